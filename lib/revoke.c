/* revoke.c - revocations: deletes that are counted and, when the instance
 * has a bridge, written to the outbox in the same transaction (outbox.h). */
#include "errors.h"
#include "instance.h"
#include "ops.h"
#include "stats.h"

static void count_revocation(shmc_cache *c)
{
    struct shmc__instance *inst;
    if (shmc__instance_get(c, &inst) == 0)
        shmc__count(inst->shard, SHMC__C_REVOCATIONS, 1);
}

int shmc_revoke(shmc_cache *c, const void *key, size_t klen)
{
    int rc = shmc__delete_key(c, key, klen, NULL, SHMC__DELETE_ANNOUNCE);
    if (rc == 0)
        count_revocation(c);
    return rc;
}

int shmc_revoke_prefix(shmc_cache *c, const void *prefix, size_t plen,
                       size_t *deleted)
{
    int rc = shmc__delete_prefix(c, prefix, plen, 0, SHMC__DELETE_ANNOUNCE,
                                 deleted);
    if (rc == 0)
        count_revocation(c);
    return rc;
}

int shmc_revoke_all(shmc_cache *c)
{
    int rc = shmc__delete_all(c, SHMC__DELETE_ANNOUNCE);
    if (rc == 0)
        count_revocation(c);
    return rc;
}
