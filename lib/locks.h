/* locks.h - what the rest of the library asks of the lock table. */
#ifndef SHMC_LOCKS_H
#define SHMC_LOCKS_H

#include "control.h"

/* How many lock slots are held at this instant, by looking, never by
 * locking: shmcache-stat must not make a worker wait. */
unsigned shmc__locks_held(struct shmc__control *ctl);

#endif
