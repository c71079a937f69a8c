/* util.c - helpers shared by the backends (see bench.h). */
#include "bench.h"

#include <ftw.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

/* Workers are single-threaded processes: one buffer per process is enough. */
static char last_error[512];

int bench_fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_error, sizeof last_error, fmt, ap);
    va_end(ap);
    return BENCH_ERR;
}

const char *bench_error(void)
{
    return last_error;
}

int bench_scratch_dir(const char *base, char *out, size_t len)
{
    int n = snprintf(out, len, "%s/shmcache-bench.XXXXXX", base);
    if (n < 0 || (size_t)n >= len)
        return bench_fail("scratch directory name too long under %s", base);
    if (!mkdtemp(out))
        return bench_fail("mkdtemp %s: %m", out);
    return BENCH_OK;
}

static int remove_one(const char *path, const struct stat *st, int type,
                      struct FTW *ftw)
{
    (void)st;
    (void)type;
    (void)ftw;
    remove(path);
    return 0;
}

void bench_remove_tree(const char *path)
{
    nftw(path, remove_one, 16, FTW_DEPTH | FTW_PHYS);
}

uint64_t bench_map_size(const struct bench_params *p)
{
    /* An entry takes its key, value and a few dozen bytes of node and
     * record header; three times that leaves room for the pages a write
     * transaction copies. The files are sparse on tmpfs: only pages in use
     * take memory. */
    const uint64_t per_key = (uint64_t)p->vsize + 128;
    const uint64_t floor = UINT64_C(64) << 20;
    return floor + (uint64_t)p->keys * per_key * 3;
}
