/* meta.c - see meta.h. */
#include "meta.h"

#include <string.h>

#include "shmcache.h"

int shmc__meta_get_u64(struct shmc__txn *t, const char *name, uint64_t dflt,
                       uint64_t *v)
{
    struct shmc__bytes b;
    int rc = shmc__get(t, SHMC__T_META, name, strlen(name), &b);
    *v = dflt;
    if (rc == 0 && b.len == sizeof *v)
        memcpy(v, b.data, sizeof *v);
    return rc == SHMC_ENOTFOUND ? 0 : rc;
}

int shmc__meta_put(struct shmc__txn *t, const char *name, const void *data,
                   size_t len)
{
    void *dst;
    int rc = shmc__put(t, SHMC__T_META, name, strlen(name), len, &dst);
    if (rc == 0 && len)
        memcpy(dst, data, len);
    return rc;
}

int shmc__meta_put_u64(struct shmc__txn *t, const char *name, uint64_t v)
{
    return shmc__meta_put(t, name, &v, sizeof v);
}
