/* l1.c - see l1.h. */
#include "l1.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "shmcache.h"

struct entry {
    uint64_t hash;
    struct shmc__stamp_view tag; /* stamps when copied */
    uint64_t version, fresh_until, expires_at;
    uint16_t key_len;            /* 0: empty */
    uint16_t value_len;
    uint8_t flags;               /* the record's SHMC__REC_* */
    unsigned char bytes[SHMC__L1_ITEM_MAX]; /* key, then value */
};

struct shmc__l1 {
    uint64_t handle_id;
    uint32_t mask;
    int held;
    struct shmc__l1 *next;
    struct entry entries[];
};

/* initial-exec for the same reason as store.c's thread_readers. */
static _Thread_local struct shmc__l1 *thread_caches
    __attribute__((tls_model("initial-exec")));
static pthread_once_t key_once = PTHREAD_ONCE_INIT;
static pthread_key_t caches_key; /* its destructor frees a thread's caches */

static void free_all(void *head)
{
    struct shmc__l1 *l1 = head;
    while (l1) {
        struct shmc__l1 *next = l1->next;
        free(l1);
        l1 = next;
    }
    thread_caches = NULL;
}

static void make_key(void)
{
    pthread_key_create(&caches_key, free_all);
}

struct shmc__l1 *shmc__l1_of_thread(uint64_t handle_id, unsigned entries)
{
    struct shmc__l1 *l1;
    for (l1 = thread_caches; l1; l1 = l1->next)
        if (l1->handle_id == handle_id)
            return l1;
    uint32_t n = 1;
    while (n < entries && n < (1u << 30))
        n <<= 1;
    l1 = calloc(1, sizeof *l1 + (size_t)n * sizeof(struct entry));
    if (!l1)
        return NULL;
    l1->handle_id = handle_id;
    l1->mask = n - 1;
    l1->next = thread_caches;
    pthread_once(&key_once, make_key);
    thread_caches = l1;
    pthread_setspecific(caches_key, thread_caches);
    return l1;
}

void shmc__l1_forget(uint64_t handle_id)
{
    for (struct shmc__l1 **pp = &thread_caches; *pp; pp = &(*pp)->next) {
        struct shmc__l1 *l1 = *pp;
        if (l1->handle_id != handle_id)
            continue;
        *pp = l1->next;
        free(l1);
        pthread_setspecific(caches_key, thread_caches);
        return;
    }
}

/* The high bits pick the entry: the low ones already picked the stamp
 * slot, and keys sharing a slot should not also share an entry. */
static struct entry *entry_of(struct shmc__l1 *l1, uint64_t key_hash)
{
    return &l1->entries[(key_hash >> 32) & l1->mask];
}

int shmc__l1_find(struct shmc__l1 *l1, const struct shmc__control *ctl,
                  uint64_t key_hash, const void *key, size_t klen,
                  struct shmc__record *r)
{
    struct entry *e = entry_of(l1, key_hash);
    if (e->key_len != klen || e->hash != key_hash ||
        memcmp(e->bytes, key, klen) != 0 || !shmc__stamps_same(ctl, &e->tag))
        return SHMC_ENOTFOUND;
    r->flags = e->flags;
    r->version = e->version;
    r->fresh_until = e->fresh_until;
    r->expires_at = e->expires_at;
    r->key = e->bytes;
    r->key_len = e->key_len;
    r->value = e->bytes + e->key_len;
    r->value_len = e->value_len;
    return 0;
}

void shmc__l1_store(struct shmc__l1 *l1, const struct shmc__stamp_view *v,
                    uint64_t key_hash, const void *key, size_t klen,
                    const struct shmc__record *r)
{
    if (l1->held || klen + r->value_len > SHMC__L1_ITEM_MAX)
        return;
    struct entry *e = entry_of(l1, key_hash);
    e->hash = key_hash;
    e->tag = *v;
    e->version = r->version;
    e->fresh_until = r->fresh_until;
    e->expires_at = r->expires_at;
    e->key_len = (uint16_t)klen;
    e->value_len = (uint16_t)r->value_len;
    e->flags = r->flags;
    memcpy(e->bytes, key, klen);
    memcpy(e->bytes + klen, r->value, r->value_len);
}

void shmc__l1_hold(struct shmc__l1 *l1)
{
    l1->held++;
}

void shmc__l1_release(struct shmc__l1 *l1)
{
    l1->held--;
}
