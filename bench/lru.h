/* lru.h - an exact least-recently-used cache of key ids, simulated: the
 * yardstick shmcache's CLOCK eviction is measured against. */
#ifndef BENCH_LRU_H
#define BENCH_LRU_H

#include <stdint.h>

struct lru;

/* A cache of at most capacity ids out of [0, keys). NULL: no memory. */
struct lru *lru_new(uint32_t keys, uint32_t capacity);
/* Look id up: 1 if it was cached (a hit). Either way it becomes the most
 * recently used, evicting the least recently used when full. */
int lru_access(struct lru *l, uint32_t id);
void lru_free(struct lru *l);

#endif
