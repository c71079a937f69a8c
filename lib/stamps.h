/* stamps.h - version stamps that let a process trust its own copy of an
 * entry without asking LMDB.
 *
 * Each key hashes to one of SHMC__STAMP_SLOTS stamps in control.shm; one
 * more stamp, the epoch, stands for "every key". A stamp works like a
 * seqlock: a writer makes the stamps of what it changes odd before its
 * commit and even again after it, so
 *   - a copy of an entry read from LMDB between two reads of the same even
 *     stamps was current when read, and stays current while the stamps
 *     keep those values;
 *   - a writer that dies between its commit and the second step leaves the
 *     stamp odd: copies of that slot are never trusted again until the
 *     next writer of the slot, never silently stale.
 * Different keys sharing a slot only cost a needless re-read. */
#ifndef SHMC_STAMPS_H
#define SHMC_STAMPS_H

#include <stdint.h>

#include "control.h"

/* Slots one write transaction tracks; a transaction that changes more
 * moves the epoch instead. */
#define SHMC__TOUCHED_MAX 16u

/* The stamps a write transaction changes. Zero it before use. */
struct shmc__touched {
    unsigned n;
    int all; /* the epoch moves: too many slots, or every key */
    uint32_t slot[SHMC__TOUCHED_MAX];
    uint64_t odd[SHMC__TOUCHED_MAX]; /* the values open() set */
    uint64_t epoch_odd;
};

/* Note that the key of this hash changes in the transaction. */
void shmc__touched_key(struct shmc__touched *w, uint64_t key_hash);

/* Note that any key may change (clear, delete by prefix). */
void shmc__touched_all(struct shmc__touched *w);

/* Before the commit: every touched stamp becomes odd. Called while the
 * LMDB writer lock is held. */
void shmc__stamps_open(struct shmc__control *ctl, struct shmc__touched *w);

/* After the commit (or an abort): each touched stamp that still holds the
 * odd value open() gave it becomes even. One that moved on belongs to a
 * later writer, which will make it even itself. */
void shmc__stamps_close(struct shmc__control *ctl,
                        const struct shmc__touched *w);

/* What a reader saw of a key's stamps. */
struct shmc__stamp_view {
    uint32_t slot;
    uint64_t stamp, epoch;
};

/* Read the stamps of the key of this hash: 1 if both are even (a copy read
 * from now on may be trusted if they are the same afterwards), else 0. */
int shmc__stamps_read(const struct shmc__control *ctl, uint64_t key_hash,
                      struct shmc__stamp_view *v);

/* Whether the stamps still hold what v saw. Orders every read before it
 * (of the entry's bytes) before its own loads. */
int shmc__stamps_same(const struct shmc__control *ctl,
                      const struct shmc__stamp_view *v);

#endif
