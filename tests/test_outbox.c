/* test_outbox.c - revocations and the bridge's calls (shmcache.h,
 * "Revocation" and "The bridge"; lib/revoke.c, lib/outbox.c, lib/inbox.c,
 * lib/write.c).
 *
 * The promises: a revocation deletes here and, once the instance has an
 * outbox, leaves one record per call, in sequence, in the same transaction
 * as the delete (a kill -9 in the middle never keeps one without the
 * other); the outbox stays bounded, standing a flush for what does not
 * fit; under a key secret a record never shows the key; acknowledgements
 * only move forward and pruning never drops a pending record; the bridge's
 * waiter wakes on a revocation made in any process. On the receiving side
 * a revocation is applied once, a lost one flushes the cache, one stored
 * under another key secret is refused, and every worker's per-thread read
 * cache forgets what was applied. */
#include "testutil.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAP_SIZE (16u << 20)
#define L1_ENTRIES 64u
#define CHILD_TIMEOUT_S 120
/* How long a child may take to get going (valgrind starts slowly). */
#define START_TIMEOUT_MS 60000u
#define ORIGIN "host-a"
/* An outbox no test fills, unless it means to. */
#define ROOMY_OUTBOX 100000u

static unsigned char secret_a[32], secret_b[32];

/* ---- instances ------------------------------------------------------- */

/* d->root/name opened with secret (NULL: none), open flags and an L1 of
 * l1_entries; closed by the teardown. */
static shmc_cache *open_instance(void **state, const char *name,
                                 const unsigned char *secret, unsigned flags,
                                 unsigned l1_entries)
{
    shmc_opts o = {.map_size = MAP_SIZE,
                   .flags = flags,
                   .l1_entries = l1_entries};
    if (secret) {
        o.key_secret = secret;
        o.key_secret_len = sizeof secret_a;
    }
    return tu_open_owned(*state, name, &o);
}

static shmc_cache *open_plain(void **state, const char *name)
{
    return open_instance(state, name, NULL, 0, 0);
}

static shmc_outbox_info outbox_info(shmc_cache *c)
{
    shmc_outbox_info info;
    tu_assert_rc(shmc_outbox_info_get(c, &info), 0);
    return info;
}

static int is_gone(shmc_cache *c, const char *key)
{
    char buf[64];
    size_t len = sizeof buf;
    int rc = shmc_get(c, key, strlen(key), buf, &len, NULL, 0);
    if (rc != 0 && rc != SHMC_ENOTFOUND)
        fail_msg("get %s: %s", key, shmc_err_name(rc));
    return rc == SHMC_ENOTFOUND;
}

/* ---- copies of outbox records ---------------------------------------- */

#define MAX_RECORDS 32
#define RECORD_KEY_MAX 128
/* What the stopping callback answers. */
#define STOP_VALUE 42

struct copied_record {
    shmc_revocation r;
    unsigned char key[RECORD_KEY_MAX];
};

struct outbox_copy {
    size_t n;
    int overflowed; /* a record, or its key, did not fit */
    uint64_t stop_at; /* answer STOP_VALUE at this sequence; 0: never */
    struct copied_record at[MAX_RECORDS];
};

static int copy_record(const shmc_revocation *r, void *arg)
{
    struct outbox_copy *out = arg;
    if (out->n == MAX_RECORDS || r->key_len > RECORD_KEY_MAX) {
        out->overflowed = 1;
        return 0;
    }
    struct copied_record *cr = &out->at[out->n++];
    cr->r = *r;
    if (r->key) {
        memcpy(cr->key, r->key, r->key_len);
        cr->r.key = cr->key;
    }
    return r->seq == out->stop_at ? STOP_VALUE : 0;
}

/* Copy the records after after_seq into *out; fails the test if the read
 * fails or they do not fit. */
static void read_outbox(shmc_cache *c, uint64_t after_seq,
                        struct outbox_copy *out)
{
    memset(out, 0, sizeof *out);
    tu_assert_rc(shmc_outbox_read(c, after_seq, copy_record, out), 0);
    assert_false(out->overflowed);
}

static int is_zero(const unsigned char *p, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (p[i])
            return 0;
    return 1;
}

/* r is the application's revocation seq of kind with key (NULL: none),
 * made on an instance without a key secret. */
static void assert_plain_record(const shmc_revocation *r, uint64_t seq,
                                unsigned kind, const char *key)
{
    assert_int_equal(r->seq, seq);
    assert_int_equal(r->kind, kind);
    assert_int_equal(r->stored_form, 0);
    assert_true(is_zero(r->keyspace, sizeof r->keyspace));
    if (!key) {
        assert_null(r->key);
        assert_int_equal(r->key_len, 0);
        return;
    }
    assert_int_equal(r->key_len, strlen(key));
    assert_memory_equal(r->key, key, r->key_len);
}

/* ---- revocations as another host's bridge hands them over ------------ */

static shmc_revocation revocation(uint64_t seq, unsigned kind,
                                  const char *key)
{
    return (shmc_revocation){.seq = seq,
                             .time_ms = shmc_now_ms(),
                             .kind = kind,
                             .key = (const unsigned char *)key,
                             .key_len = key ? strlen(key) : 0};
}

static int apply(shmc_cache *c, uint64_t incarnation, uint64_t seq,
                 unsigned kind, const char *key)
{
    shmc_revocation r = revocation(seq, kind, key);
    return shmc_bridge_apply(c, ORIGIN, incarnation, &r, NULL);
}

/* ---- without an outbox ----------------------------------------------- */

static void test_revoke_without_outbox_is_a_counted_delete(void **state)
{
    shmc_cache *c = open_plain(state, NULL);
    tu_set(c, "token", "v");
    tu_set(c, "p:1", "v");
    shmc_outbox_info before = outbox_info(c);
    shmc_stats s0 = tu_stats(c);

    tu_assert_rc(shmc_revoke(c, "token", 5), 0);
    assert_true(is_gone(c, "token"));
    tu_assert_rc(shmc_revoke(c, "absent", 6), SHMC_ENOTFOUND);
    size_t deleted = 0;
    tu_assert_rc(shmc_revoke_prefix(c, "p:", 2, &deleted), 0);
    assert_int_equal(deleted, 1);

    shmc_stats s1 = tu_stats(c);
    assert_int_equal(s1.revocations - s0.revocations, 2);
    assert_int_equal(s1.deletes - s0.deletes, 2);
    shmc_outbox_info after = outbox_info(c);
    assert_int_equal(after.max_pending, 0);
    assert_int_equal(after.next_seq, 1);
    assert_int_equal(after.acked_seq, 0);
    assert_int_equal(after.first_seq, 0);
    assert_int_equal(after.signal, before.signal);
    struct outbox_copy out;
    read_outbox(c, 0, &out);
    assert_int_equal(out.n, 0);
    shmc_info info = tu_info(c);
    assert_int_equal(info.outbox_max, 0);
    assert_int_equal(info.outbox_pending, 0);
}

/* ---- records in order ------------------------------------------------ */

static void test_revocations_are_written_in_order(void **state)
{
    shmc_cache *c = open_plain(state, NULL);
    tu_assert_rc(shmc_outbox_enable(c, ROOMY_OUTBOX), 0);
    shmc_outbox_info info = outbox_info(c);
    assert_int_equal(info.max_pending, ROOMY_OUTBOX);
    assert_int_not_equal(info.incarnation, 0);
    assert_int_equal(info.next_seq, 1);
    /* Turning it on again keeps the incarnation: the others would take a
     * new one for a new instance. */
    tu_assert_rc(shmc_outbox_enable(c, ROOMY_OUTBOX), 0);
    assert_int_equal(outbox_info(c).incarnation, info.incarnation);

    const char *keys[] = {"k1", "p:a", "p:b", "other"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        tu_set(c, keys[i], "v");
    shmc_stats s0 = tu_stats(c);
    uint64_t t0 = shmc_now_ms();
    tu_assert_rc(shmc_revoke(c, "k1", 2), 0);
    assert_true(is_gone(c, "k1"));
    assert_false(is_gone(c, "p:a"));
    size_t deleted = 0;
    tu_assert_rc(shmc_revoke_prefix(c, "p:", 2, &deleted), 0);
    assert_int_equal(deleted, 2);
    assert_false(is_gone(c, "other"));
    tu_assert_rc(shmc_revoke_all(c), 0);
    uint64_t t1 = shmc_now_ms();
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        assert_true(is_gone(c, keys[i]));
    assert_int_equal(tu_stats(c).revocations - s0.revocations, 3);

    struct outbox_copy out;
    read_outbox(c, 0, &out);
    assert_int_equal(out.n, 3);
    assert_plain_record(&out.at[0].r, 1, SHMC_REVOKE_KEY, "k1");
    assert_plain_record(&out.at[1].r, 2, SHMC_REVOKE_PREFIX, "p:");
    assert_plain_record(&out.at[2].r, 3, SHMC_REVOKE_ALL, NULL);
    for (size_t i = 0; i < out.n; i++)
        assert_in_range(out.at[i].r.time_ms, t0, t1);

    /* A revocation travels whether or not this host held the key. */
    tu_assert_rc(shmc_revoke(c, "never-set", 9), SHMC_ENOTFOUND);
    read_outbox(c, 3, &out);
    assert_int_equal(out.n, 1);
    assert_plain_record(&out.at[0].r, 4, SHMC_REVOKE_KEY, "never-set");

    /* Plain deletes are this host's business only. */
    tu_set(c, "d1", "v");
    tu_set(c, "d2:x", "v");
    tu_assert_rc(shmc_del(c, "d1", 2), 0);
    tu_assert_rc(shmc_del_prefix(c, "d2:", 3, NULL), 0);
    tu_assert_rc(shmc_clear(c), 0);
    assert_int_equal(outbox_info(c).next_seq, 5);
    read_outbox(c, 4, &out);
    assert_int_equal(out.n, 0);

    /* What is refused does not travel either. */
    tu_assert_rc(shmc_revoke(c, "k", 0), SHMC_EKEYLEN);
    tu_assert_rc(shmc_revoke_prefix(c, "k", 0, NULL), SHMC_EINVAL);
    assert_int_equal(outbox_info(c).next_seq, 5);

    /* Turned off: counted deletes again, and what is pending stays. */
    tu_assert_rc(shmc_outbox_enable(c, 0), 0);
    tu_assert_rc(shmc_revoke(c, "late", 4), SHMC_ENOTFOUND);
    assert_int_equal(outbox_info(c).next_seq, 5);
    read_outbox(c, 0, &out);
    assert_int_equal(out.n, 4);
}

/* ---- under a key secret ---------------------------------------------- */

/* Revoke "user:42:x" and then "user:42:" in a fresh instance name made with
 * secret, and copy its two records. */
static void revoke_under_secret(void **state, const char *name,
                                const unsigned char *secret,
                                struct outbox_copy *out)
{
    shmc_cache *c = open_instance(state, name, secret, 0, 0);
    tu_assert_rc(shmc_outbox_enable(c, ROOMY_OUTBOX), 0);
    tu_set(c, "user:42:x", "v");
    tu_set(c, "user:42:y", "v");
    tu_set(c, "user:43:z", "v");
    tu_assert_rc(shmc_revoke(c, "user:42:x", 9), 0);
    size_t deleted = 0;
    tu_assert_rc(shmc_revoke_prefix(c, "user:42:", 8, &deleted), 0);
    assert_int_equal(deleted, 1);
    assert_true(is_gone(c, "user:42:y"));
    assert_false(is_gone(c, "user:43:z"));
    /* Under a secret only whole namespaces can be named. */
    tu_assert_rc(shmc_revoke_prefix(c, "user:4", 6, NULL), SHMC_EINVAL);
    read_outbox(c, 0, out);
    assert_int_equal(out->n, 2);
}

static void assert_stored_record(const shmc_revocation *r, uint64_t seq,
                                 unsigned kind, const char *plain)
{
    assert_int_equal(r->seq, seq);
    assert_int_equal(r->kind, kind);
    assert_int_equal(r->stored_form, 1);
    assert_false(is_zero(r->keyspace, sizeof r->keyspace));
    assert_non_null(r->key);
    assert_true(r->key_len > 0);
    assert_null(memmem(r->key, r->key_len, plain, strlen(plain)));
}

static void test_secret_records_carry_stored_forms(void **state)
{
    struct outbox_copy a1, a2, b;
    revoke_under_secret(state, "a1", secret_a, &a1);
    revoke_under_secret(state, "a2", secret_a, &a2);
    revoke_under_secret(state, "b", secret_b, &b);

    const shmc_revocation *key = &a1.at[0].r, *prefix = &a1.at[1].r;
    assert_stored_record(key, 1, SHMC_REVOKE_KEY, "user:42:x");
    assert_stored_record(prefix, 2, SHMC_REVOKE_PREFIX, "user:42:");
    /* The namespace's stored prefix begins the stored key of its keys. */
    assert_true(prefix->key_len < key->key_len);
    assert_memory_equal(prefix->key, key->key, prefix->key_len);

    /* One secret, one keyspace and one stored form, on any host. */
    assert_memory_equal(a2.at[0].r.keyspace, key->keyspace, 8);
    assert_int_equal(a2.at[0].r.key_len, key->key_len);
    assert_memory_equal(a2.at[0].r.key, key->key, key->key_len);
    assert_memory_not_equal(b.at[0].r.keyspace, key->keyspace, 8);
    assert_int_equal(b.at[0].r.key_len, key->key_len);
    assert_memory_not_equal(b.at[0].r.key, key->key, key->key_len);
}

/* ---- the bound ------------------------------------------------------- */

static void key_name(char *buf, size_t size, unsigned i)
{
    snprintf(buf, size, "k%u", i);
}

static void test_full_outbox_asks_for_a_flush(void **state)
{
    enum { BOUND = 5, REVOKED = 7 };
    shmc_cache *c = open_plain(state, NULL);
    tu_assert_rc(shmc_outbox_enable(c, BOUND), 0);
    char key[16];
    for (unsigned i = 0; i <= REVOKED; i++) {
        key_name(key, sizeof key, i);
        tu_set(c, key, "v");
    }
    tu_set(c, "bystander", "v");
    for (unsigned i = 0; i < BOUND; i++) {
        key_name(key, sizeof key, i);
        tu_assert_rc(shmc_revoke(c, key, strlen(key)), 0);
    }
    assert_int_equal(tu_info(c).outbox_pending, BOUND);
    assert_int_equal(tu_stats(c).outbox_overflows, 0);

    for (unsigned i = BOUND; i < REVOKED; i++) {
        key_name(key, sizeof key, i);
        tu_assert_rc(shmc_revoke(c, key, strlen(key)), 0);
    }
    assert_int_equal(tu_stats(c).outbox_overflows, REVOKED - BOUND);
    for (unsigned i = 0; i < REVOKED; i++) {
        key_name(key, sizeof key, i);
        assert_true(is_gone(c, key));
    }
    /* The flush is for the other hosts: here only the keys went. */
    tu_assert_value(c, "bystander", "v");
    struct outbox_copy out;
    read_outbox(c, 0, &out);
    assert_int_equal(out.n, BOUND + 1);
    for (unsigned i = 0; i < BOUND; i++) {
        key_name(key, sizeof key, i);
        assert_plain_record(&out.at[i].r, i + 1, SHMC_REVOKE_KEY, key);
    }
    assert_plain_record(&out.at[BOUND].r, BOUND + 1, SHMC_REVOKE_ALL, NULL);
    assert_int_equal(outbox_info(c).next_seq, BOUND + 2);

    tu_assert_rc(shmc_outbox_ack(c, BOUND + 1), 0);
    tu_assert_rc(shmc_outbox_prune(c, BOUND + 1), 0);
    shmc_outbox_info info = outbox_info(c);
    assert_int_equal(info.first_seq, 0);
    assert_int_equal(tu_info(c).outbox_pending, 0);
    read_outbox(c, 0, &out);
    assert_int_equal(out.n, 0);

    key_name(key, sizeof key, REVOKED);
    tu_assert_rc(shmc_revoke(c, key, strlen(key)), 0);
    read_outbox(c, 0, &out);
    assert_int_equal(out.n, 1);
    assert_plain_record(&out.at[0].r, BOUND + 2, SHMC_REVOKE_KEY, key);
    assert_int_equal(tu_stats(c).outbox_overflows, REVOKED - BOUND);
}

/* ---- acknowledging and pruning --------------------------------------- */

/* Revoke n keys that are not there: n records. */
static void revoke_absent(shmc_cache *c, unsigned n)
{
    char key[16];
    for (unsigned i = 0; i < n; i++) {
        key_name(key, sizeof key, i);
        tu_assert_rc(shmc_revoke(c, key, strlen(key)), SHMC_ENOTFOUND);
    }
}

static void assert_pending(shmc_cache *c, uint64_t max, uint64_t acked,
                           uint64_t pending)
{
    shmc_outbox_info ob = outbox_info(c);
    assert_int_equal(ob.acked_seq, acked);
    assert_int_equal(ob.next_seq - 1 - ob.acked_seq, pending);
    shmc_info info = tu_info(c);
    assert_int_equal(info.outbox_max, max);
    assert_int_equal(info.outbox_pending, pending);
}

static void test_acknowledgements_and_pruning(void **state)
{
    shmc_cache *c = open_plain(state, NULL);
    tu_assert_rc(shmc_outbox_enable(c, 100), 0);
    revoke_absent(c, 5);
    assert_pending(c, 100, 0, 5);

    tu_assert_rc(shmc_outbox_ack(c, 3), 0);
    assert_pending(c, 100, 3, 2);
    tu_assert_rc(shmc_outbox_ack(c, 2), 0);
    assert_pending(c, 100, 3, 2);
    tu_assert_rc(shmc_outbox_ack(c, 6), SHMC_EINVAL);
    assert_pending(c, 100, 3, 2);

    /* Pending records stay, whatever is asked. */
    tu_assert_rc(shmc_outbox_prune(c, 5), 0);
    assert_int_equal(outbox_info(c).first_seq, 4);
    struct outbox_copy out;
    read_outbox(c, 0, &out);
    assert_int_equal(out.n, 2);
    assert_int_equal(out.at[0].r.seq, 4);
    assert_int_equal(out.at[1].r.seq, 5);

    tu_assert_rc(shmc_outbox_ack(c, 5), 0);
    assert_pending(c, 100, 5, 0);
    tu_assert_rc(shmc_outbox_prune(c, 4), 0);
    assert_int_equal(outbox_info(c).first_seq, 5);
    tu_assert_rc(shmc_outbox_prune(c, 1000), 0);
    shmc_outbox_info info = outbox_info(c);
    assert_int_equal(info.first_seq, 0);
    assert_int_equal(info.next_seq, 6);
    tu_assert_rc(shmc_outbox_ack(c, 6), SHMC_EINVAL);
}

/* ---- reading from a sequence ----------------------------------------- */

static void test_read_from_a_sequence_and_stop(void **state)
{
    shmc_cache *c = open_plain(state, NULL);
    tu_assert_rc(shmc_outbox_enable(c, 100), 0);
    revoke_absent(c, 5);
    struct outbox_copy out;
    read_outbox(c, 0, &out);
    assert_int_equal(out.n, 5);
    read_outbox(c, 2, &out);
    assert_int_equal(out.n, 3);
    for (size_t i = 0; i < out.n; i++)
        assert_int_equal(out.at[i].r.seq, 3 + i);
    read_outbox(c, 5, &out);
    assert_int_equal(out.n, 0);

    memset(&out, 0, sizeof out);
    out.stop_at = 4;
    tu_assert_rc(shmc_outbox_read(c, 2, copy_record, &out), STOP_VALUE);
    assert_int_equal(out.n, 2);
    assert_int_equal(out.at[1].r.seq, 4);
}

/* ---- waiting for a revocation ---------------------------------------- */

static void test_wait_times_out(void **state)
{
    enum { TIMEOUT_MS = 200 };
    shmc_cache *c = open_plain(state, NULL);
    tu_assert_rc(shmc_outbox_enable(c, 100), 0);
    shmc_outbox_info info = outbox_info(c);
    /* Writes that are not revocations do not wake the bridge. */
    tu_set(c, "k", "v");
    tu_assert_rc(shmc_del(c, "k", 1), 0);
    uint64_t start = tu_now_ns();
    tu_assert_rc(shmc_outbox_wait(c, info.signal, TIMEOUT_MS),
                 SHMC_ETIMEDOUT);
    assert_true(tu_ms_since(start) >= TIMEOUT_MS * 8 / 10);
}

struct waker {
    shmc_cache *c;
    unsigned delay_ms;
};

static int run_waker(void *arg, int index)
{
    const struct waker *w = arg;
    (void)index;
    tu_sleep_ms(w->delay_ms);
    int rc = shmc_revoke(w->c, "wake", 4);
    if (rc != SHMC_ENOTFOUND) {
        fprintf(stderr, "waker: revoke: %s: %s\n", shmc_err_name(rc),
                shmc_last_error());
        return 1;
    }
    return 0;
}

static void test_wait_wakes_on_another_process(void **state)
{
    enum { TIMEOUT_MS = 10000, WELL_BEFORE_MS = 5000 };
    shmc_cache *c = open_plain(state, NULL);
    tu_assert_rc(shmc_outbox_enable(c, 100), 0);
    shmc_outbox_info info = outbox_info(c);
    struct waker w = {c, 100};
    pid_t pid = tu_spawn(run_waker, &w);
    uint64_t start = tu_now_ns();
    int rc = shmc_outbox_wait(c, info.signal, TIMEOUT_MS);
    uint64_t waited = tu_ms_since(start);
    assert_int_equal(tu_wait_child(pid, CHILD_TIMEOUT_S), 0);
    tu_assert_rc(rc, 0);
    assert_true(waited < WELL_BEFORE_MS);
    struct outbox_copy out;
    read_outbox(c, 0, &out);
    assert_int_equal(out.n, 1);
    assert_plain_record(&out.at[0].r, 1, SHMC_REVOKE_KEY, "wake");
}

static void test_wait_returns_at_once_after_a_missed_signal(void **state)
{
    enum { TIMEOUT_MS = 10000, AT_ONCE_MS = 5000 };
    shmc_cache *c = open_plain(state, NULL);
    tu_assert_rc(shmc_outbox_enable(c, 100), 0);
    shmc_outbox_info info = outbox_info(c);
    tu_assert_rc(shmc_revoke(c, "between", 7), SHMC_ENOTFOUND);
    uint64_t start = tu_now_ns();
    tu_assert_rc(shmc_outbox_wait(c, info.signal, TIMEOUT_MS), 0);
    assert_true(tu_ms_since(start) < AT_ONCE_MS);
}

/* ---- kill -9 in the middle of revocations ---------------------------- */

#define CRASH_KEY_MAX 32

static void crash_key(char *buf, unsigned round, unsigned i)
{
    snprintf(buf, CRASH_KEY_MAX, "crash-%u-%u", round, i);
}

struct revoker {
    shmc_cache *c;
    unsigned round, n;
    _Atomic unsigned *progress; /* revocations that returned */
};

/* Revoke the round's keys in order, then wait for the kill. */
static int run_revoker(void *arg, int index)
{
    struct revoker *rv = arg;
    (void)index;
    char key[CRASH_KEY_MAX];
    for (unsigned i = 0; i < rv->n; i++) {
        crash_key(key, rv->round, i);
        int rc = shmc_revoke(rv->c, key, strlen(key));
        if (rc != 0) {
            fprintf(stderr, "revoker: %s: %s: %s\n", key, shmc_err_name(rc),
                    shmc_last_error());
            return 1;
        }
        atomic_store(rv->progress, i + 1);
    }
    for (;;)
        pause();
}

/* Wait until *progress reaches target: 0 then, -1 after timeout_ms. */
static int await_progress(_Atomic unsigned *progress, unsigned target,
                          unsigned timeout_ms)
{
    uint64_t start = tu_now_ns();
    while (atomic_load(progress) < target)
        if (tu_ms_since(start) >= timeout_ms)
            return -1;
    return 0;
}

static void set_crash_keys(shmc_cache *c, unsigned round, unsigned n)
{
    enum { BATCH = 256 };
    static char keys[BATCH][CRASH_KEY_MAX];
    shmc_item items[BATCH];
    for (unsigned i = 0; i < n;) {
        size_t k = 0;
        for (; k < BATCH && i < n; k++, i++) {
            crash_key(keys[k], round, i);
            items[k] = (shmc_item){keys[k], strlen(keys[k]), "v", 1};
        }
        tu_assert_rc(shmc_mset(c, items, k, NULL), 0);
    }
}

struct crash_marks {
    unsigned round, n;
    unsigned char *revoked; /* n flags: a record names key i */
    uint64_t next_seq;      /* the sequence the next record must have */
    unsigned bad;           /* records out of sequence, foreign or twice */
};

static int mark_revoked(const shmc_revocation *r, void *arg)
{
    struct crash_marks *m = arg;
    char key[CRASH_KEY_MAX];
    unsigned round = 0, i = 0;
    int used = 0;
    int ok = r->seq == m->next_seq++ && r->kind == SHMC_REVOKE_KEY &&
             r->stored_form == 0 && r->key_len < sizeof key;
    if (ok) {
        memcpy(key, r->key, r->key_len);
        key[r->key_len] = '\0';
        ok = sscanf(key, "crash-%u-%u%n", &round, &i, &used) == 2 &&
             (size_t)used == r->key_len && round == m->round && i < m->n &&
             !m->revoked[i];
    }
    if (ok)
        m->revoked[i] = 1;
    else
        m->bad++;
    return 0;
}

/* After the kill: the keys gone are the first few, exactly those the
 * records name; returns how many. */
static unsigned check_crash_round(shmc_cache *c, unsigned round, unsigned n,
                                  uint64_t first_seq, unsigned progress)
{
    struct crash_marks m = {.round = round,
                            .n = n,
                            .revoked = calloc(n, 1),
                            .next_seq = first_seq};
    assert_non_null(m.revoked);
    tu_assert_rc(shmc_outbox_read(c, first_seq - 1, mark_revoked, &m), 0);
    unsigned gone = 0, mismatched = 0, out_of_order = 0;
    char key[CRASH_KEY_MAX];
    for (unsigned i = 0; i < n; i++) {
        crash_key(key, round, i);
        int g = is_gone(c, key);
        mismatched += g != m.revoked[i];
        out_of_order += g && gone != i;
        gone += g;
    }
    free(m.revoked);
    assert_int_equal(m.bad, 0);
    assert_int_equal(mismatched, 0);
    assert_int_equal(out_of_order, 0);
    assert_int_equal(m.next_seq, first_seq + gone);
    /* The revocation under way when the kill came may have committed. */
    assert_in_range(gone, progress, progress + 1);
    return gone;
}

static void test_kill_in_the_middle_keeps_delete_and_record_together(
    void **state)
{
    const unsigned rounds = tu_under_valgrind() ? 2 : 16;
    const unsigned n = tu_scaled(4000);
    shmc_cache *c = open_plain(state, NULL);
    tu_assert_rc(shmc_outbox_enable(c, 1u << 20), 0);
    _Atomic unsigned *progress = tu_shared(sizeof *progress);
    unsigned interrupted = 0;
    for (unsigned round = 0; round < rounds; round++) {
        set_crash_keys(c, round, n);
        uint64_t first_seq = outbox_info(c).next_seq;
        atomic_store(progress, 0);
        struct revoker rv = {c, round, n, progress};
        pid_t pid = tu_spawn(run_revoker, &rv);
        /* Killed at a point that moves from round to round, well before
         * the end. */
        int reached = await_progress(progress, 1 + n * round / (2 * rounds),
                                     START_TIMEOUT_MS);
        int killed = tu_kill_child(pid);
        assert_int_equal(reached, 0);
        assert_true(killed);
        unsigned gone = check_crash_round(c, round, n, first_seq,
                                          atomic_load(progress));
        interrupted += gone < n;
        uint64_t last = outbox_info(c).next_seq - 1;
        tu_assert_rc(shmc_outbox_ack(c, last), 0);
        tu_assert_rc(shmc_outbox_prune(c, last), 0);
    }
    tu_unshare((void *)progress, sizeof *progress);
    /* Else the kills all came after the work and tested nothing. */
    assert_true(interrupted > 0);
}

/* ---- applying other hosts' revocations ------------------------------- */

static void test_apply_once_and_flush_on_a_gap(void **state)
{
    enum { LAG_MS = 2000 };
    shmc_cache *origin = open_plain(state, "origin");
    shmc_cache *c = open_plain(state, "here");
    shmc_cache *worker = open_instance(state, "here", NULL, 0, L1_ENTRIES);
    tu_assert_rc(shmc_outbox_enable(origin, 100), 0);
    uint64_t inc = outbox_info(origin).incarnation;
    tu_assert_rc(shmc_revoke(origin, "k1", 2), SHMC_ENOTFOUND);
    struct outbox_copy out;
    read_outbox(origin, 0, &out);
    assert_int_equal(out.n, 1);
    shmc_revocation r1 = out.at[0].r;
    r1.time_ms -= LAG_MS;

    /* A worker holding k1 in its per-thread cache. */
    tu_set(c, "k1", "v1");
    tu_assert_value(worker, "k1", "v1");
    uint64_t l1_hits = tu_stats(c).l1_hits;
    tu_assert_value(worker, "k1", "v1");
    assert_true(tu_stats(c).l1_hits > l1_hits);

    char cursor[64];
    tu_assert_rc(shmc_bridge_cursor(c, cursor, sizeof cursor), 0);
    assert_string_equal(cursor, "");
    tu_assert_rc(shmc_bridge_apply(c, ORIGIN, inc, &r1, "1-0"),
                 SHMC_BRIDGE_APPLIED);
    tu_assert_value(worker, "k1", NULL);
    shmc_stats s = tu_stats(c);
    assert_int_equal(s.bridge_applied, 1);
    assert_int_equal(s.bridge_newest_ms, r1.time_ms);
    assert_in_range(s.bridge_lag_ms, LAG_MS, LAG_MS + 60000);
    tu_assert_rc(shmc_bridge_cursor(c, cursor, sizeof cursor), 0);
    assert_string_equal(cursor, "1-0");

    /* Delivered again: nothing happens. */
    tu_set(c, "k1", "v2");
    tu_assert_rc(shmc_bridge_apply(c, ORIGIN, inc, &r1, "1-1"),
                 SHMC_BRIDGE_DUPLICATE);
    tu_assert_value(worker, "k1", "v2");
    s = tu_stats(c);
    assert_int_equal(s.bridge_duplicates, 1);
    assert_int_equal(s.bridge_applied, 1);
    assert_int_equal(s.bridge_gap_flushes, 0);

    /* Sequence 2 never came: anything may have been revoked. A message
     * without a cursor leaves the saved one. */
    char before_gap[64];
    tu_assert_rc(shmc_bridge_cursor(c, before_gap, sizeof before_gap), 0);
    tu_set(c, "a", "v");
    tu_assert_rc(apply(c, inc, 3, SHMC_REVOKE_KEY, "k3"), SHMC_BRIDGE_GAP);
    tu_assert_rc(shmc_bridge_cursor(c, cursor, sizeof cursor), 0);
    assert_string_equal(cursor, before_gap);
    tu_assert_value(worker, "k1", NULL);
    tu_assert_value(worker, "a", NULL);
    s = tu_stats(c);
    assert_int_equal(s.bridge_gap_flushes, 1);
    assert_int_equal(s.bridge_applied, 2);
    assert_true(s.bridge_newest_ms > r1.time_ms);

    /* Another host's sequence is its own. */
    shmc_revocation other = revocation(1, SHMC_REVOKE_KEY, "b");
    tu_set(c, "b", "v");
    tu_set(c, "keep", "v");
    tu_assert_rc(shmc_bridge_apply(c, "host-b", inc, &other, NULL),
                 SHMC_BRIDGE_APPLIED);
    tu_assert_value(worker, "b", NULL);
    tu_assert_value(worker, "keep", "v");

    /* The origin's instance made anew: from 1 it is whole, from 5 not. */
    tu_assert_rc(apply(c, inc + 1, 1, SHMC_REVOKE_KEY, "keep"),
                 SHMC_BRIDGE_APPLIED);
    tu_assert_value(worker, "keep", NULL);
    assert_int_equal(tu_stats(c).bridge_gap_flushes, 1);
    tu_set(c, "a", "v");
    tu_assert_rc(apply(c, inc + 2, 5, SHMC_REVOKE_KEY, "k5"),
                 SHMC_BRIDGE_GAP);
    tu_assert_value(worker, "a", NULL);
    assert_int_equal(tu_stats(c).bridge_gap_flushes, 2);

    tu_set(c, "user:1", "v");
    tu_set(c, "user:2", "v");
    tu_set(c, "keep", "v");
    tu_assert_rc(apply(c, inc + 2, 6, SHMC_REVOKE_PREFIX, "user:"),
                 SHMC_BRIDGE_APPLIED);
    tu_assert_value(worker, "user:1", NULL);
    tu_assert_value(worker, "user:2", NULL);
    tu_assert_value(worker, "keep", "v");
    shmc_revocation all = revocation(7, SHMC_REVOKE_ALL, NULL);
    tu_assert_rc(shmc_bridge_apply(c, ORIGIN, inc + 2, &all,
                                   "1700000000000-7"),
                 SHMC_BRIDGE_APPLIED);
    tu_assert_value(worker, "keep", NULL);
    s = tu_stats(c);
    assert_int_equal(s.bridge_gap_flushes, 2);
    assert_int_equal(s.bridge_applied, 7);
    assert_int_equal(s.bridge_duplicates, 1);

    static const char last[] = "1700000000000-7";
    tu_assert_rc(shmc_bridge_cursor(c, cursor, sizeof cursor), 0);
    assert_string_equal(cursor, last);
    tu_assert_rc(shmc_bridge_cursor(c, cursor, sizeof last - 1),
                 SHMC_EBUFSMALL);
    tu_assert_rc(shmc_bridge_cursor(c, cursor, sizeof last), 0);
    assert_string_equal(cursor, last);

}

static void test_flush_forgets_every_origin(void **state)
{
    shmc_cache *c = open_plain(state, NULL);
    tu_assert_rc(apply(c, 7, 1, SHMC_REVOKE_KEY, "x"), SHMC_BRIDGE_APPLIED);
    shmc_revocation other = revocation(4, SHMC_REVOKE_KEY, "y");
    tu_assert_rc(shmc_bridge_apply(c, "host-b", 9, &other, NULL),
                 SHMC_BRIDGE_APPLIED);

    tu_set(c, "a", "v");
    tu_assert_rc(shmc_bridge_flush(c, "trimmed"), 0);
    tu_assert_value(c, "a", NULL);
    assert_int_equal(tu_stats(c).bridge_gap_flushes, 1);
    char cursor[64];
    tu_assert_rc(shmc_bridge_cursor(c, cursor, sizeof cursor), 0);
    assert_string_equal(cursor, "trimmed");

    /* The flush covers whatever each origin sent before its next one. */
    tu_set(c, "keep", "v");
    tu_assert_rc(apply(c, 7, 5, SHMC_REVOKE_KEY, "x"), SHMC_BRIDGE_APPLIED);
    other.seq = 9;
    tu_assert_rc(shmc_bridge_apply(c, "host-b", 9, &other, NULL),
                 SHMC_BRIDGE_APPLIED);
    tu_assert_value(c, "keep", "v");
    assert_int_equal(tu_stats(c).bridge_gap_flushes, 1);
    /* And from there on, sequences count again. */
    tu_assert_rc(apply(c, 7, 5, SHMC_REVOKE_KEY, "x"), SHMC_BRIDGE_DUPLICATE);
    tu_assert_rc(apply(c, 7, 7, SHMC_REVOKE_KEY, "x"), SHMC_BRIDGE_GAP);
    tu_assert_value(c, "keep", NULL);

    /* Messages read but not applied move the cursor too. */
    tu_assert_rc(shmc_bridge_save_cursor(c, "own-1"), 0);
    tu_assert_rc(shmc_bridge_cursor(c, cursor, sizeof cursor), 0);
    assert_string_equal(cursor, "own-1");
}

/* ---- keyspaces ------------------------------------------------------- */

static void test_keyspaces_must_match(void **state)
{
    shmc_cache *origin = open_instance(state, "origin", secret_a, 0, 0);
    shmc_cache *plain = open_plain(state, "plain");
    shmc_cache *same = open_instance(state, "same", secret_a, 0, 0);
    shmc_cache *worker =
        open_instance(state, "same", secret_a, 0, L1_ENTRIES);
    shmc_cache *other = open_instance(state, "other", secret_b, 0, 0);
    tu_assert_rc(shmc_outbox_enable(origin, 100), 0);
    uint64_t inc = outbox_info(origin).incarnation;
    tu_assert_rc(shmc_revoke(origin, "user:42:x", 9), SHMC_ENOTFOUND);
    tu_assert_rc(shmc_revoke_prefix(origin, "user:42:", 8, NULL), 0);
    struct outbox_copy out;
    read_outbox(origin, 0, &out);
    assert_int_equal(out.n, 2);
    const shmc_revocation *key = &out.at[0].r, *prefix = &out.at[1].r;

    tu_set(plain, "user:42:x", "v");
    tu_assert_rc(shmc_bridge_apply(plain, ORIGIN, inc, key, NULL),
                 SHMC_EKEYMISMATCH);
    shmc_stats s = tu_stats(plain);
    assert_int_equal(s.bridge_rejected_keyspace, 1);
    assert_int_equal(s.bridge_applied, 0);
    assert_int_equal(tu_info(plain).entries, 1);
    tu_assert_value(plain, "user:42:x", "v");

    tu_set(other, "user:42:x", "v");
    tu_assert_rc(shmc_bridge_apply(other, ORIGIN, inc, key, NULL),
                 SHMC_EKEYMISMATCH);
    assert_int_equal(tu_stats(other).bridge_rejected_keyspace, 1);
    tu_assert_value(other, "user:42:x", "v");

    tu_set(same, "user:42:x", "v");
    tu_set(same, "user:42:y", "v");
    tu_set(same, "user:43:z", "v");
    /* A refused message counts as seen: another incarnation here, so
     * that the origin's own sequence 1 below is not a duplicate of it. */
    tu_assert_rc(apply(same, inc + 1, 1, SHMC_REVOKE_KEY, "user:42:x"),
                 SHMC_EKEYMISMATCH);
    s = tu_stats(same);
    assert_int_equal(s.bridge_rejected_keyspace, 1);
    assert_int_equal(tu_info(same).entries, 3);

    tu_assert_value(worker, "user:42:x", "v");
    uint64_t l1_hits = tu_stats(same).l1_hits;
    tu_assert_value(worker, "user:42:x", "v");
    assert_true(tu_stats(same).l1_hits > l1_hits);
    tu_assert_rc(shmc_bridge_apply(same, ORIGIN, inc, key, NULL),
                 SHMC_BRIDGE_APPLIED);
    tu_assert_value(worker, "user:42:x", NULL);
    tu_assert_value(worker, "user:42:y", "v");
    tu_assert_rc(shmc_bridge_apply(same, ORIGIN, inc, prefix, NULL),
                 SHMC_BRIDGE_APPLIED);
    tu_assert_value(worker, "user:42:y", NULL);
    tu_assert_value(worker, "user:43:z", "v");

    /* A flush names no key: every keyspace takes it. */
    tu_assert_rc(apply(same, inc, 3, SHMC_REVOKE_ALL, NULL),
                 SHMC_BRIDGE_APPLIED);
    tu_assert_value(worker, "user:43:z", NULL);
    assert_int_equal(tu_stats(same).bridge_applied, 3);
}

/* ---- a handle without keys ------------------------------------------- */

static void test_bridge_calls_work_without_keys(void **state)
{
    shmc_cache *origin = open_instance(state, "origin", secret_a, 0, 0);
    shmc_cache *origin_daemon =
        open_instance(state, "origin", NULL, SHMC_OPEN_NOKEYS, 0);
    shmc_cache *here = open_instance(state, "here", secret_a, 0, 0);
    shmc_cache *daemon =
        open_instance(state, "here", NULL, SHMC_OPEN_NOKEYS, 0);
    char buf[8];
    size_t len = sizeof buf;
    tu_assert_rc(shmc_get(daemon, "k", 1, buf, &len, NULL, 0),
                 SHMC_EKEYMISMATCH);
    tu_assert_rc(shmc_revoke(daemon, "k", 1), SHMC_EKEYMISMATCH);

    tu_assert_rc(shmc_outbox_enable(origin_daemon, 100), 0);
    shmc_outbox_info info = outbox_info(origin_daemon);
    tu_assert_rc(shmc_revoke(origin, "user:1:a", 8), SHMC_ENOTFOUND);
    tu_assert_rc(shmc_revoke_prefix(origin, "user:2:", 7, NULL), 0);
    struct outbox_copy out;
    read_outbox(origin_daemon, 0, &out);
    assert_int_equal(out.n, 2);
    assert_stored_record(&out.at[0].r, 1, SHMC_REVOKE_KEY, "user:1:a");
    assert_stored_record(&out.at[1].r, 2, SHMC_REVOKE_PREFIX, "user:2:");

    tu_set(here, "user:1:a", "v");
    tu_set(here, "user:2:b", "v");
    tu_set(here, "user:3:c", "v");
    tu_assert_rc(shmc_bridge_apply(daemon, ORIGIN, info.incarnation,
                                   &out.at[0].r, "1-0"),
                 SHMC_BRIDGE_APPLIED);
    tu_assert_rc(shmc_bridge_apply(daemon, ORIGIN, info.incarnation,
                                   &out.at[1].r, "2-0"),
                 SHMC_BRIDGE_APPLIED);
    tu_assert_value(here, "user:1:a", NULL);
    tu_assert_value(here, "user:2:b", NULL);
    tu_assert_value(here, "user:3:c", "v");
    tu_assert_rc(apply(daemon, info.incarnation, 3, SHMC_REVOKE_ALL, NULL),
                 SHMC_BRIDGE_APPLIED);
    tu_assert_value(here, "user:3:c", NULL);
    char cursor[64];
    tu_assert_rc(shmc_bridge_cursor(daemon, cursor, sizeof cursor), 0);
    assert_string_equal(cursor, "2-0");
    tu_assert_rc(shmc_bridge_flush(daemon, "3-0"), 0);

    tu_assert_rc(shmc_outbox_ack(origin_daemon, 2), 0);
    tu_assert_rc(shmc_outbox_prune(origin_daemon, 2), 0);
    info = outbox_info(origin_daemon);
    assert_int_equal(info.acked_seq, 2);
    assert_int_equal(info.first_seq, 0);
}

/* ---- bad arguments --------------------------------------------------- */

static void assert_apply_refused(shmc_cache *c, const char *origin,
                                 uint64_t incarnation,
                                 const shmc_revocation *r,
                                 const char *cursor)
{
    tu_assert_rc(shmc_bridge_apply(c, origin, incarnation, r, cursor),
                 SHMC_EINVAL);
}

static void test_bad_arguments(void **state)
{
    shmc_cache *c = open_plain(state, NULL);
    tu_set(c, "k", "v");
    shmc_revocation good = revocation(1, SHMC_REVOKE_KEY, "k");
    shmc_outbox_info info;

    tu_assert_rc(shmc_revoke(NULL, "k", 1), SHMC_EINVAL);
    tu_assert_rc(shmc_revoke_prefix(NULL, "k", 1, NULL), SHMC_EINVAL);
    tu_assert_rc(shmc_revoke_all(NULL), SHMC_EINVAL);
    tu_assert_rc(shmc_outbox_enable(NULL, 1), SHMC_EINVAL);
    tu_assert_rc(shmc_outbox_info_get(NULL, &info), SHMC_EINVAL);
    tu_assert_rc(shmc_outbox_info_get(c, NULL), SHMC_EINVAL);
    tu_assert_rc(shmc_outbox_read(NULL, 0, copy_record, NULL), SHMC_EINVAL);
    tu_assert_rc(shmc_outbox_read(c, 0, NULL, NULL), SHMC_EINVAL);
    tu_assert_rc(shmc_outbox_ack(NULL, 0), SHMC_EINVAL);
    tu_assert_rc(shmc_outbox_prune(NULL, 0), SHMC_EINVAL);
    tu_assert_rc(shmc_outbox_wait(NULL, 0, 0), SHMC_EINVAL);
    tu_assert_rc(shmc_bridge_apply(NULL, ORIGIN, 1, &good, NULL),
                 SHMC_EINVAL);
    tu_assert_rc(shmc_bridge_cursor(NULL, (char[8]){0}, 8), SHMC_EINVAL);
    tu_assert_rc(shmc_bridge_flush(NULL, NULL), SHMC_EINVAL);
    shmc_bridge_count(NULL, SHMC_BRIDGE_SENT, 1);

    char origin[66];
    memset(origin, 'o', 65);
    origin[65] = '\0';
    assert_apply_refused(c, "", 1, &good, NULL);
    assert_apply_refused(c, NULL, 1, &good, NULL);
    assert_apply_refused(c, origin, 1, &good, NULL);
    assert_apply_refused(c, ORIGIN, 0, &good, NULL);
    assert_apply_refused(c, ORIGIN, 1, NULL, NULL);
    shmc_revocation r = good;
    r.seq = 0;
    assert_apply_refused(c, ORIGIN, 1, &r, NULL);
    r = good;
    r.kind = 0;
    assert_apply_refused(c, ORIGIN, 1, &r, NULL);
    r.kind = 4;
    assert_apply_refused(c, ORIGIN, 1, &r, NULL);
    r = good;
    r.key_len = 0;
    assert_apply_refused(c, ORIGIN, 1, &r, NULL);
    r = good;
    r.stored_form = 2;
    assert_apply_refused(c, ORIGIN, 1, &r, NULL);
    char cursor[65];
    memset(cursor, '7', 64);
    cursor[64] = '\0';
    assert_apply_refused(c, ORIGIN, 1, &good, cursor);
    tu_assert_rc(shmc_bridge_flush(c, cursor), SHMC_EINVAL);
    tu_assert_rc(shmc_bridge_save_cursor(c, cursor), SHMC_EINVAL);
    tu_assert_rc(shmc_bridge_save_cursor(c, NULL), SHMC_EINVAL);
    tu_assert_rc(shmc_bridge_save_cursor(NULL, "1-0"), SHMC_EINVAL);
    tu_assert_value(c, "k", "v");
    assert_int_equal(tu_stats(c).bridge_applied, 0);
    assert_int_equal(tu_stats(c).bridge_gap_flushes, 0);

    /* The limits themselves are accepted. */
    origin[64] = '\0';
    cursor[63] = '\0';
    tu_assert_rc(shmc_bridge_apply(c, origin, 1, &good, cursor),
                 SHMC_BRIDGE_APPLIED);
    char back[64];
    tu_assert_rc(shmc_bridge_cursor(c, back, sizeof back), 0);
    assert_string_equal(back, cursor);
    tu_assert_rc(shmc_bridge_cursor(c, NULL, 8), SHMC_EINVAL);
    tu_assert_rc(shmc_bridge_cursor(c, back, 0), SHMC_EINVAL);

    tu_assert_rc(shmc_outbox_enable(c, (1ull << 32) + 1), SHMC_EINVAL);
    assert_int_equal(outbox_info(c).max_pending, 0);
    tu_assert_rc(shmc_outbox_enable(c, 1ull << 32), 0);
    assert_int_equal(outbox_info(c).max_pending, 1ull << 32);
}

static void test_bridge_counts(void **state)
{
    shmc_cache *c = open_plain(state, NULL);
    shmc_stats before = tu_stats(c);
    static const unsigned unknown[] = {0, 6, 100, ~0u};
    for (size_t i = 0; i < sizeof unknown / sizeof unknown[0]; i++)
        shmc_bridge_count(c, unknown[i], 1000);
    shmc_stats after = tu_stats(c);
    assert_memory_equal(&after, &before, sizeof after);

    shmc_bridge_count(c, SHMC_BRIDGE_SENT, 1);
    shmc_bridge_count(c, SHMC_BRIDGE_RECEIVED, 2);
    shmc_bridge_count(c, SHMC_BRIDGE_SKIPPED_OWN, 3);
    shmc_bridge_count(c, SHMC_BRIDGE_REJECTED_SIGNATURE, 4);
    shmc_bridge_count(c, SHMC_BRIDGE_REJECTED_PARSE, 5);
    shmc_bridge_count(c, SHMC_BRIDGE_SENT, 10);
    after = tu_stats(c);
    assert_int_equal(after.bridge_sent, 11);
    assert_int_equal(after.bridge_received, 2);
    assert_int_equal(after.bridge_skipped_own, 3);
    assert_int_equal(after.bridge_rejected_signature, 4);
    assert_int_equal(after.bridge_rejected_parse, 5);
    assert_int_equal(after.bridge_applied, 0);
    assert_int_equal(after.bridge_duplicates, 0);
    assert_int_equal(after.bridge_rejected_keyspace, 0);
    assert_int_equal(after.bridge_gap_flushes, 0);
}

int main(void)
{
    for (size_t i = 0; i < sizeof secret_a; i++) {
        secret_a[i] = (unsigned char)(i * 7 + 1);
        secret_b[i] = (unsigned char)(i * 13 + 5);
    }
    const struct CMUnitTest tests[] = {
        tu_test_owning(test_revoke_without_outbox_is_a_counted_delete),
        tu_test_owning(test_revocations_are_written_in_order),
        tu_test_owning(test_secret_records_carry_stored_forms),
        tu_test_owning(test_full_outbox_asks_for_a_flush),
        tu_test_owning(test_acknowledgements_and_pruning),
        tu_test_owning(test_read_from_a_sequence_and_stop),
        tu_test_owning(test_wait_times_out),
        tu_test_owning(test_wait_wakes_on_another_process),
        tu_test_owning(test_wait_returns_at_once_after_a_missed_signal),
        tu_test_owning(
            test_kill_in_the_middle_keeps_delete_and_record_together),
        tu_test_owning(test_apply_once_and_flush_on_a_gap),
        tu_test_owning(test_flush_forgets_every_origin),
        tu_test_owning(test_keyspaces_must_match),
        tu_test_owning(test_bridge_calls_work_without_keys),
        tu_test_owning(test_bad_arguments),
        tu_test_owning(test_bridge_counts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
