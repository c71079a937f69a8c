/* walk.c - see walk.h. */
#include "walk.h"

#include <string.h>

#include "shmcache.h"

int shmc__walk_table(struct shmc__txn *t, struct shmc__walk_pos *pos,
                     shmc__judge_fn judge, void *arg, int *ended)
{
    struct shmc__cursor *cur;
    struct shmc__bytes k, v;
    *ended = 0;
    int rc = shmc__cursor_open(t, pos->table, &cur);
    if (rc)
        return rc;
    rc = shmc__cursor_seek(cur, pos->key, pos->len, &k, &v);
    while (rc == 0) {
        /* pos: the record at the cursor, not yet judged. */
        memcpy(pos->key, k.data, k.len);
        pos->len = k.len;
        enum shmc__verdict verdict = judge(k, v, arg);
        if (verdict == SHMC__STOP)
            break;
        if (verdict == SHMC__KEEP) {
            rc = shmc__cursor_next(cur, &k, &v);
            continue;
        }
        rc = shmc__cursor_del(cur);
        /* The first record after the deleted one. */
        if (rc == 0)
            rc = shmc__cursor_seek(cur, pos->key, pos->len, &k, &v);
    }
    shmc__cursor_close(cur);
    if (rc == SHMC_ENOTFOUND) {
        *ended = 1;
        rc = 0;
    }
    return rc;
}
