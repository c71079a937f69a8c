/* walk.h - a walk through one table that deletes as it goes, in batches
 * that resume where the last one stopped: what the sweep, eviction and
 * delete-by-prefix have in common. */
#ifndef SHMC_WALK_H
#define SHMC_WALK_H

#include <stddef.h>

#include "keys.h"
#include "store.h"

/* Where a walk stands: the next record it looks at is the first one at or
 * after key in table. */
struct shmc__walk_pos {
    enum shmc__table table;
    size_t len;
    unsigned char key[SHMC__MAX_DIRECT_KEY];
};

enum shmc__verdict {
    SHMC__KEEP,   /* go on to the next record */
    SHMC__DELETE, /* delete this one, then go on */
    SHMC__STOP,   /* stop before this record: the walk resumes at it */
};

/* Judge the record stored under k. */
typedef enum shmc__verdict (*shmc__judge_fn)(struct shmc__bytes k,
                                            struct shmc__bytes v, void *arg);

/* Walk pos->table from pos inside t, deleting what judge says, until judge
 * says stop or the table ends (*ended = 1; pos is then left as it was at
 * the last record). pos is moved past what was looked at. Returns 0 or a
 * store error (the transaction should then be aborted). */
int shmc__walk_table(struct shmc__txn *t, struct shmc__walk_pos *pos,
                     shmc__judge_fn judge, void *arg, int *ended);

#endif
