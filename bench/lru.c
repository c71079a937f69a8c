/* lru.c - see lru.h. A doubly linked list threaded through arrays indexed
 * by key id: O(1) per access, no allocation after lru_new. */
#include "lru.h"

#include <stdlib.h>

#define NIL UINT32_MAX

struct lru {
    uint32_t capacity, size;
    uint32_t head, tail; /* most and least recently used */
    uint32_t *prev, *next;
    unsigned char *cached;
};

struct lru *lru_new(uint32_t keys, uint32_t capacity)
{
    struct lru *l = calloc(1, sizeof *l);
    if (!l)
        return NULL;
    l->prev = malloc(sizeof *l->prev * keys);
    l->next = malloc(sizeof *l->next * keys);
    l->cached = calloc(keys, 1);
    if (!l->prev || !l->next || !l->cached || capacity == 0) {
        lru_free(l);
        return NULL;
    }
    l->capacity = capacity;
    l->head = l->tail = NIL;
    return l;
}

static void unlink_id(struct lru *l, uint32_t id)
{
    if (l->prev[id] != NIL)
        l->next[l->prev[id]] = l->next[id];
    else
        l->head = l->next[id];
    if (l->next[id] != NIL)
        l->prev[l->next[id]] = l->prev[id];
    else
        l->tail = l->prev[id];
}

static void push_front(struct lru *l, uint32_t id)
{
    l->prev[id] = NIL;
    l->next[id] = l->head;
    if (l->head != NIL)
        l->prev[l->head] = id;
    l->head = id;
    if (l->tail == NIL)
        l->tail = id;
}

int lru_access(struct lru *l, uint32_t id)
{
    if (l->cached[id]) {
        unlink_id(l, id);
        push_front(l, id);
        return 1;
    }
    if (l->size == l->capacity) {
        uint32_t victim = l->tail;
        unlink_id(l, victim);
        l->cached[victim] = 0;
        l->size--;
    }
    push_front(l, id);
    l->cached[id] = 1;
    l->size++;
    return 0;
}

void lru_free(struct lru *l)
{
    if (!l)
        return;
    free(l->prev);
    free(l->next);
    free(l->cached);
    free(l);
}
