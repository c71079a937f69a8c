/* outbox.c - see outbox.h, and the bridge's calls in shmcache.h. */
#include "outbox.h"

#include <errno.h>
#include <linux/futex.h>
#include <openssl/rand.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "errors.h"
#include "instance.h"
#include "meta.h"
#include "protect.h"
#include "stats.h"

#define META_MAX "outbox-max"
#define META_NEXT "outbox-next"
#define META_ACKED "outbox-acked"
#define META_INCARNATION "outbox-incarnation"

#define RECORD_HEADER 10u /* time (8), kind (1), form (1) */
/* A bound the sequence arithmetic and the table's size never come near. */
#define MAX_PENDING (1ull << 32)

struct sequences {
    uint64_t max, next, acked;
};

static int sequences_get(struct shmc__txn *t, struct sequences *q)
{
    int rc = shmc__meta_get_u64(t, META_MAX, 0, &q->max);
    if (rc == 0)
        rc = shmc__meta_get_u64(t, META_NEXT, 1, &q->next);
    if (rc == 0)
        rc = shmc__meta_get_u64(t, META_ACKED, 0, &q->acked);
    return rc;
}

static void seq_key(uint64_t seq, unsigned char k[8])
{
    for (int i = 7; i >= 0; i--, seq >>= 8)
        k[i] = (unsigned char)seq;
}

static uint64_t key_seq(const unsigned char k[8])
{
    uint64_t seq = 0;
    for (int i = 0; i < 8; i++)
        seq = seq << 8 | k[i];
    return seq;
}

/* Whether the record of seq is a pending SHMC_REVOKE_ALL. */
static int pending_flush(struct shmc__txn *t, const struct sequences *q,
                         uint64_t seq)
{
    unsigned char k[8];
    struct shmc__bytes v;
    seq_key(seq, k);
    return seq > q->acked &&
           shmc__get(t, SHMC__T_OUTBOX, k, sizeof k, &v) == 0 &&
           v.len >= RECORD_HEADER &&
           ((const unsigned char *)v.data)[8] == SHMC_REVOKE_ALL;
}

int shmc__outbox_append(struct shmc__writer *w, unsigned kind,
                        int stored_form, const void *key, size_t klen)
{
    struct sequences q;
    int rc = sequences_get(&w->t, &q);
    if (rc || q.max == 0)
        return rc;
    if (q.next - 1 - q.acked >= q.max) {
        w->outbox_overflows++;
        if (pending_flush(&w->t, &q, q.next - 1))
            return 0;
        kind = SHMC_REVOKE_ALL;
        stored_form = 0;
        klen = 0;
    }
    unsigned char k[8];
    void *dst;
    seq_key(q.next, k);
    rc = shmc__put(&w->t, SHMC__T_OUTBOX, k, sizeof k, RECORD_HEADER + klen,
                   &dst);
    if (rc)
        return rc;
    unsigned char *b = dst;
    uint64_t now = shmc__now_ms();
    memcpy(b, &now, 8);
    b[8] = (unsigned char)kind;
    b[9] = (unsigned char)stored_form;
    if (klen)
        memcpy(b + RECORD_HEADER, key, klen);
    rc = shmc__meta_put_u64(&w->t, META_NEXT, q.next + 1);
    w->outbox_added += rc == 0;
    return rc;
}

static long futex(_Atomic uint32_t *word, int op, uint32_t val,
                  const struct timespec *timeout)
{
    /* Not the _PRIVATE operations: the word is shared between processes. */
    return syscall(SYS_futex, (uint32_t *)word, op, val, timeout, NULL, 0);
}

void shmc__outbox_signal(struct shmc__control *ctl)
{
    atomic_fetch_add_explicit(&ctl->hdr->outbox_signal, 1,
                              memory_order_release);
    futex(&ctl->hdr->outbox_signal, FUTEX_WAKE, INT32_MAX, NULL);
}

/* ---- the bridge's calls ------------------------------------------------ */

static int enable(struct shmc__writer *w, void *arg, int *answer)
{
    const uint64_t *max = arg;
    uint64_t incarnation;
    *answer = 0;
    int rc = shmc__meta_get_u64(&w->t, META_INCARNATION, 0, &incarnation);
    while (rc == 0 && incarnation == 0)
        if (RAND_bytes((unsigned char *)&incarnation, sizeof incarnation) != 1)
            rc = shmc__fail(SHMC_EINTERNAL, "no random bytes for the outbox");
    if (rc == 0)
        rc = shmc__meta_put_u64(&w->t, META_INCARNATION, incarnation);
    return rc ? rc : shmc__meta_put_u64(&w->t, META_MAX, *max);
}

int shmc_outbox_enable(shmc_cache *c, uint64_t max_pending)
{
    shmc__clear_error();
    if (max_pending > MAX_PENDING)
        return shmc__fail(SHMC_EINVAL, "outbox: at most 2^32 pending");
    return shmc__writer_run(c, SHMC__WRITE_MAINTENANCE, enable, &max_pending);
}

/* Begin a read of c's instance. */
static int read_begin(shmc_cache *c, struct shmc__instance **inst,
                      struct shmc__txn *t)
{
    if (!c)
        return shmc__fail(SHMC_EINVAL, "NULL handle");
    int rc = shmc__instance_get(c, inst);
    return rc ? rc : shmc__read_begin((*inst)->store, t);
}

int shmc_outbox_info_get(shmc_cache *c, shmc_outbox_info *out)
{
    struct shmc__instance *inst;
    struct shmc__txn t;
    struct sequences q;
    shmc__clear_error();
    if (!out)
        return shmc__fail(SHMC_EINVAL, "outbox info: NULL argument");
    int rc = read_begin(c, &inst, &t);
    if (rc)
        return rc;
    /* Before the read: a revocation committed after it moves the signal
     * past what the caller then waits on. */
    uint32_t signal = atomic_load_explicit(&inst->ctl.hdr->outbox_signal,
                                           memory_order_acquire);
    *out = (shmc_outbox_info){.signal = signal};
    rc = sequences_get(&t, &q);
    if (rc == 0)
        rc = shmc__meta_get_u64(&t, META_INCARNATION, 0, &out->incarnation);
    struct shmc__cursor *cur;
    struct shmc__bytes k, v;
    if (rc == 0)
        rc = shmc__cursor_open(&t, SHMC__T_OUTBOX, &cur);
    if (rc == 0) {
        int found = shmc__cursor_seek(cur, NULL, 0, &k, &v);
        if (found == 0 && k.len == 8)
            out->first_seq = key_seq(k.data);
        else if (found != SHMC_ENOTFOUND)
            rc = found;
        shmc__cursor_close(cur);
    }
    shmc__read_end(&t);
    out->max_pending = q.max;
    out->next_seq = q.next;
    out->acked_seq = q.acked;
    return rc;
}

/* A record the library did not write as it is (damaged in the map) is
 * handed on as a flush: a revocation the others cannot read must still
 * reach them. */
static void record_decode(struct shmc__bytes k, struct shmc__bytes v,
                          shmc_revocation *r)
{
    const unsigned char *b = v.data;
    r->seq = key_seq(k.data);
    r->kind = SHMC_REVOKE_ALL;
    r->stored_form = 0;
    r->key = NULL;
    r->key_len = 0;
    r->time_ms = shmc__now_ms();
    if (v.len < RECORD_HEADER || b[9] > 1)
        return;
    size_t klen = v.len - RECORD_HEADER;
    int keyed = b[8] == SHMC_REVOKE_KEY || b[8] == SHMC_REVOKE_PREFIX;
    if ((keyed && (klen == 0 || klen > SHMC_MAX_KEY_LEN)) ||
        (!keyed && (b[8] != SHMC_REVOKE_ALL || klen != 0)))
        return;
    memcpy(&r->time_ms, b, 8);
    r->kind = b[8];
    r->stored_form = keyed ? b[9] : 0;
    r->key = klen ? b + RECORD_HEADER : NULL;
    r->key_len = klen;
}

int shmc_outbox_read(shmc_cache *c, uint64_t after_seq, shmc_outbox_fn fn,
                     void *arg)
{
    struct shmc__instance *inst;
    struct shmc__txn t;
    shmc__clear_error();
    if (!fn)
        return shmc__fail(SHMC_EINVAL, "outbox read: NULL callback");
    int rc = read_begin(c, &inst, &t);
    if (rc)
        return rc;
    shmc_revocation r;
    memset(&r, 0, sizeof r);
    rc = shmc__protect_keyspace(&t, r.keyspace);
    struct shmc__cursor *cur;
    if (rc == 0)
        rc = shmc__cursor_open(&t, SHMC__T_OUTBOX, &cur);
    if (rc == 0) {
        unsigned char from[8];
        struct shmc__bytes k, v;
        seq_key(after_seq + 1, from);
        int step = shmc__cursor_seek(cur, from, sizeof from, &k, &v);
        for (; step == 0 && rc == 0; step = shmc__cursor_next(cur, &k, &v))
            if (k.len == 8) {
                record_decode(k, v, &r);
                rc = fn(&r, arg);
            }
        if (rc == 0 && step != SHMC_ENOTFOUND)
            rc = step;
        shmc__cursor_close(cur);
    }
    shmc__read_end(&t);
    return rc;
}

static int ack(struct shmc__writer *w, void *arg, int *answer)
{
    const uint64_t *seq = arg;
    struct sequences q;
    *answer = 0;
    int rc = sequences_get(&w->t, &q);
    if (rc == 0 && *seq >= q.next)
        rc = shmc__fail(SHMC_EINVAL,
                        "outbox: sequence %llu acknowledged, but the last "
                        "is %llu",
                        (unsigned long long)*seq,
                        (unsigned long long)(q.next - 1));
    if (rc == 0 && *seq > q.acked)
        rc = shmc__meta_put_u64(&w->t, META_ACKED, *seq);
    return rc;
}

int shmc_outbox_ack(shmc_cache *c, uint64_t seq)
{
    shmc__clear_error();
    return shmc__writer_run(c, SHMC__WRITE_MAINTENANCE, ack, &seq);
}

static int prune(struct shmc__writer *w, void *arg, int *answer)
{
    const uint64_t *upto = arg;
    struct sequences q;
    struct shmc__cursor *cur;
    struct shmc__bytes k, v;
    *answer = 0;
    int rc = sequences_get(&w->t, &q);
    uint64_t last = *upto < q.acked ? *upto : q.acked;
    if (rc == 0)
        rc = shmc__cursor_open(&w->t, SHMC__T_OUTBOX, &cur);
    if (rc)
        return rc;
    /* The oldest record is always the first: delete from the front. */
    int step = shmc__cursor_seek(cur, NULL, 0, &k, &v);
    while (step == 0 && k.len == 8 && key_seq(k.data) <= last) {
        step = shmc__cursor_del(cur);
        if (step == 0)
            step = shmc__cursor_seek(cur, NULL, 0, &k, &v);
    }
    shmc__cursor_close(cur);
    return step == SHMC_ENOTFOUND ? 0 : step;
}

int shmc_outbox_prune(shmc_cache *c, uint64_t seq)
{
    shmc__clear_error();
    return shmc__writer_run(c, SHMC__WRITE_MAINTENANCE, prune, &seq);
}

int shmc_outbox_wait(shmc_cache *c, uint32_t signal, unsigned timeout_ms)
{
    struct shmc__instance *inst;
    shmc__clear_error();
    if (!c)
        return shmc__fail(SHMC_EINVAL, "NULL handle");
    int rc = shmc__instance_get(c, &inst);
    if (rc)
        return rc;
    _Atomic uint32_t *word = &inst->ctl.hdr->outbox_signal;
    uint64_t deadline = shmc__monotonic_us() + (uint64_t)timeout_ms * 1000;
    for (;;) {
        if (atomic_load_explicit(word, memory_order_acquire) != signal)
            return 0;
        uint64_t now = shmc__monotonic_us();
        if (now >= deadline)
            return SHMC_ETIMEDOUT;
        uint64_t left = deadline - now;
        struct timespec ts = {.tv_sec = (time_t)(left / 1000000),
                              .tv_nsec = (long)(left % 1000000) * 1000};
        /* EAGAIN (moved already), EINTR and timeouts all loop to the checks
         * above. */
        futex(word, FUTEX_WAIT, signal, &ts);
    }
}
