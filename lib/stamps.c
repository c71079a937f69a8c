/* stamps.c - see stamps.h. */
#include "stamps.h"

#include <stdatomic.h>

static uint32_t slot_of(uint64_t key_hash)
{
    return (uint32_t)(key_hash & (SHMC__STAMP_SLOTS - 1));
}

static _Atomic uint64_t *epoch_of(const struct shmc__control *ctl)
{
    return &ctl->stamps[SHMC__STAMP_SLOTS];
}

void shmc__touched_key(struct shmc__touched *w, uint64_t key_hash)
{
    uint32_t slot = slot_of(key_hash);
    if (w->all)
        return;
    for (unsigned i = 0; i < w->n; i++)
        if (w->slot[i] == slot)
            return;
    if (w->n == SHMC__TOUCHED_MAX)
        w->all = 1;
    else
        w->slot[w->n++] = slot;
}

void shmc__touched_all(struct shmc__touched *w)
{
    w->all = 1;
}

/* Make *stamp odd and different from any value it had: even e becomes
 * e + 1, odd o (a writer died in flight) becomes o + 2. */
static uint64_t make_odd(_Atomic uint64_t *stamp)
{
    uint64_t old = atomic_load(stamp), odd;
    do
        odd = (old + 1) | 1;
    while (!atomic_compare_exchange_weak(stamp, &old, odd));
    return odd;
}

static void make_even(_Atomic uint64_t *stamp, uint64_t odd)
{
    atomic_compare_exchange_strong(stamp, &odd, odd + 1);
}

void shmc__stamps_open(struct shmc__control *ctl, struct shmc__touched *w)
{
    for (unsigned i = 0; i < w->n; i++)
        w->odd[i] = make_odd(&ctl->stamps[w->slot[i]]);
    if (w->all)
        w->epoch_odd = make_odd(epoch_of(ctl));
}

void shmc__stamps_close(struct shmc__control *ctl,
                        const struct shmc__touched *w)
{
    for (unsigned i = 0; i < w->n; i++)
        make_even(&ctl->stamps[w->slot[i]], w->odd[i]);
    if (w->all)
        make_even(epoch_of(ctl), w->epoch_odd);
}

int shmc__stamps_read(const struct shmc__control *ctl, uint64_t key_hash,
                      struct shmc__stamp_view *v)
{
    v->slot = slot_of(key_hash);
    v->stamp = atomic_load_explicit(&ctl->stamps[v->slot],
                                    memory_order_acquire);
    v->epoch = atomic_load_explicit(epoch_of(ctl), memory_order_acquire);
    return !((v->stamp | v->epoch) & 1);
}

int shmc__stamps_same(const struct shmc__control *ctl,
                      const struct shmc__stamp_view *v)
{
    atomic_thread_fence(memory_order_acquire);
    return atomic_load_explicit(&ctl->stamps[v->slot],
                                memory_order_relaxed) == v->stamp &&
           atomic_load_explicit(epoch_of(ctl), memory_order_relaxed) ==
               v->epoch;
}
