/* entry.c - see entry.h. */
#include "entry.h"

#include <string.h>

#include "shmcache.h"

int shmc__entry_find(struct shmc__txn *t, const struct shmc__key *k,
                     struct shmc__record *r)
{
    struct shmc__bytes v;
    int rc = shmc__get(t, k->table, k->stored, k->stored_len, &v);
    if (rc == 0)
        rc = shmc__record_decode(v.data, v.len, r);
    /* A long key's record carries its key and a short key's none: a long
     * key's record copied under a short key equal to its digest (its
     * sealed value would open, the stored key being the same bytes) is
     * no entry of that short key. */
    if (rc == 0 && (shmc__key_hashed(k)
                        ? r->key_len != k->full_len ||
                              memcmp(r->key, k->full, k->full_len) != 0
                        : r->key_len != 0))
        rc = SHMC_ENOTFOUND;
    return rc;
}
