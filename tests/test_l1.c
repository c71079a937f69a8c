/* test_l1.c - the per-thread read cache (lib/l1.c) and the version stamps
 * in control.shm that let it trust its copies (lib/stamps.c).
 *
 * The promise (shmcache.h, l1_entries): a read may be served from the
 * thread's copy only while the key's stamp and the epoch still hold the
 * values seen before the copy was read from LMDB; any committed write of
 * the key by any process, a clear or a delete by prefix invalidates it; a
 * writer that dies between its commit and its second stamp step leaves the
 * slot odd, and copies of that slot are not trusted until the slot is
 * written again. Never a stale answer. Every test below makes its situation
 * happen for real (other handles, forked writers, kill -9, threads) and
 * tells an L1 hit from an LMDB read by the l1_hits counter. */
#include "testutil.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "instance.h"
#include "keys.h"
#include "l1.h"
#include "record.h"
#include "stamps.h"
#include "store.h"

#define CHILD_TIMEOUT_S 20
/* The L1 of most readers below: room for every key a test reads, unless
 * two of them happen to share an entry (apart_from rules that out). */
#define L1_ENTRIES 64u

/* ---- handles, reads and counters ---------------------------------------- */

static shmc_cache *open_with_l1(const struct tu_dir *d, unsigned entries)
{
    shmc_opts opts = {.map_size = TU_MAP_SIZE, .l1_entries = entries};
    return tu_open(d, &opts);
}

static uint64_t l1_hits(shmc_cache *c)
{
    return tu_stats(c).l1_hits;
}

static uint64_t hash_of(const char *key)
{
    return shmc__key_hash(key, strlen(key));
}

static uint32_t slot_of(const char *key)
{
    return (uint32_t)(hash_of(key) & (SHMC__STAMP_SLOTS - 1));
}

static unsigned l1_entry_of(const char *key, unsigned entries)
{
    return (unsigned)((hash_of(key) >> 32) & (entries - 1));
}

/* What one read returned: the oracle a reader with an L1 must match. */
struct read_result {
    int rc;
    size_t len;
    char val[256];
    shmc_meta meta;
};

static struct read_result read_key(shmc_cache *c, const char *key,
                                   unsigned flags)
{
    struct read_result r;
    memset(&r, 0, sizeof r);
    r.len = sizeof r.val;
    r.rc = shmc_get(c, key, strlen(key), r.val, &r.len, &r.meta, flags);
    if (r.rc != 0 && r.rc != SHMC_STALE && r.rc != SHMC_ENOTFOUND)
        fail_msg("get %s: %s: %s", key, shmc_err_name(r.rc),
                 shmc_last_error());
    if (r.rc == SHMC_ENOTFOUND) {
        r.len = 0;
        memset(&r.meta, 0, sizeof r.meta);
    }
    return r;
}

/* Read key (want NULL: it must miss) and say whether the read was served
 * by the L1. */
static int read_expecting(shmc_cache *c, const char *key, const char *want)
{
    uint64_t before = l1_hits(c);
    struct read_result r = read_key(c, key, 0);
    if (!want && r.rc != SHMC_ENOTFOUND)
        fail_msg("get %s: %s \"%.*s\", expected a miss", key,
                 shmc_err_name(r.rc), (int)r.len, r.val);
    if (want && (r.rc != 0 || r.len != strlen(want) ||
                 memcmp(r.val, want, r.len) != 0))
        fail_msg("get %s: %s \"%.*s\", expected \"%s\"", key,
                 shmc_err_name(r.rc), (int)r.len, r.val, want);
    uint64_t served = l1_hits(c) - before;
    if (served > 1)
        fail_msg("get %s counted %llu L1 hits", key,
                 (unsigned long long)served);
    return served == 1;
}

static void assert_l1_hit(shmc_cache *c, const char *key, const char *want)
{
    if (!read_expecting(c, key, want))
        fail_msg("get %s was not served by the L1", key);
}

static void assert_lmdb_read(shmc_cache *c, const char *key, const char *want)
{
    if (read_expecting(c, key, want))
        fail_msg("get %s was served by the L1", key);
}

/* Read key until the L1 holds it: the first read copies it, the second
 * must be served from the copy. */
static void warm(shmc_cache *c, const char *key, const char *want)
{
    read_expecting(c, key, want);
    assert_l1_hit(c, key, want);
}

static int in_slot_of(const char *key, const void *other)
{
    return slot_of(key) == slot_of(other) && strcmp(key, other) != 0;
}

/* Neither the stamp slot nor the L1 entry of other. */
static int apart_from(const char *key, const void *other)
{
    return slot_of(key) != slot_of(other) &&
           l1_entry_of(key, L1_ENTRIES) != l1_entry_of(other, L1_ENTRIES);
}

/* ---- stamps ------------------------------------------------------------- */

static uint64_t stamp_of_slot(const struct shmc__control *ctl, uint32_t slot)
{
    return atomic_load(&ctl->stamps[slot]);
}

/* control.h: the stamp after the last slot is the epoch. */
static uint64_t epoch_of(const struct shmc__control *ctl)
{
    return stamp_of_slot(ctl, SHMC__STAMP_SLOTS);
}

static uint64_t stamp_of_key(const struct shmc__control *ctl, const char *key)
{
    return stamp_of_slot(ctl, slot_of(key));
}

/* A complete write of key's slot, as commit_write makes one. */
static void write_slot(struct shmc__control *ctl, const char *key)
{
    struct shmc__touched w = {0};
    shmc__touched_key(&w, hash_of(key));
    shmc__stamps_open(ctl, &w);
    shmc__stamps_close(ctl, &w);
}

static int stamps_trusted(const struct shmc__control *ctl, const char *key)
{
    struct shmc__stamp_view v;
    return shmc__stamps_read(ctl, hash_of(key), &v);
}

static void open_makes_slots_odd_and_close_even(void **state)
{
    struct tu_cache *f = *state;
    struct shmc__control *ctl = &tu_instance(f->c)->ctl;
    const char *keys[] = {"stamp-a", "stamp-b"}, *bystander = "stamp-c";
    assert_int_not_equal(slot_of(keys[0]), slot_of(keys[1]));
    assert_int_not_equal(slot_of(bystander), slot_of(keys[0]));
    assert_int_not_equal(slot_of(bystander), slot_of(keys[1]));
    /* Start from a slot that has history, not from zero. */
    write_slot(ctl, keys[0]);
    uint64_t before[2], odd[2];
    uint64_t bystander_before = stamp_of_key(ctl, bystander);
    uint64_t epoch_before = epoch_of(ctl);
    struct shmc__stamp_view seen;
    assert_true(shmc__stamps_read(ctl, hash_of(keys[0]), &seen));
    assert_true(shmc__stamps_same(ctl, &seen));

    struct shmc__touched w = {0};
    for (int i = 0; i < 2; i++) {
        before[i] = stamp_of_key(ctl, keys[i]);
        assert_int_equal(before[i] % 2, 0);
        shmc__touched_key(&w, hash_of(keys[i]));
    }
    assert_int_equal(w.n, 2);
    assert_false(w.all);

    shmc__stamps_open(ctl, &w);
    for (int i = 0; i < 2; i++) {
        odd[i] = stamp_of_key(ctl, keys[i]);
        assert_int_equal(odd[i] % 2, 1);
        assert_true(odd[i] > before[i]);
        assert_false(stamps_trusted(ctl, keys[i]));
    }
    assert_false(shmc__stamps_same(ctl, &seen));
    assert_int_equal(stamp_of_key(ctl, bystander), bystander_before);
    assert_true(stamps_trusted(ctl, bystander));
    assert_int_equal(epoch_of(ctl), epoch_before);

    shmc__stamps_close(ctl, &w);
    for (int i = 0; i < 2; i++) {
        uint64_t after = stamp_of_key(ctl, keys[i]);
        assert_int_equal(after % 2, 0);
        assert_true(after > odd[i]);
        assert_true(stamps_trusted(ctl, keys[i]));
    }
    /* Even again, but not the value seen: a copy from before stays
     * untrusted. */
    assert_false(shmc__stamps_same(ctl, &seen));
    assert_int_equal(epoch_of(ctl), epoch_before);
}

static void close_leaves_a_later_writers_stamp_odd(void **state)
{
    struct tu_cache *f = *state;
    struct shmc__control *ctl = &tu_instance(f->c)->ctl;
    const char *key = "stamp-shared";
    struct shmc__touched first = {0}, second = {0};
    shmc__touched_key(&first, hash_of(key));
    shmc__touched_key(&second, hash_of(key));

    shmc__stamps_open(ctl, &first);
    uint64_t first_odd = stamp_of_key(ctl, key);
    shmc__stamps_open(ctl, &second);
    uint64_t second_odd = stamp_of_key(ctl, key);
    assert_int_equal(second_odd % 2, 1);
    assert_int_not_equal(second_odd, first_odd);

    /* The first writer's close must not vouch for the second's commit. */
    shmc__stamps_close(ctl, &first);
    assert_int_equal(stamp_of_key(ctl, key), second_odd);
    assert_false(stamps_trusted(ctl, key));

    shmc__stamps_close(ctl, &second);
    uint64_t settled = stamp_of_key(ctl, key);
    assert_int_equal(settled % 2, 0);
    assert_true(stamps_trusted(ctl, key));

    /* Closes in the other order: the late close finds its value gone and
     * leaves the stamp alone. */
    struct shmc__touched a = {0}, b = {0};
    shmc__touched_key(&a, hash_of(key));
    shmc__touched_key(&b, hash_of(key));
    shmc__stamps_open(ctl, &a);
    shmc__stamps_open(ctl, &b);
    shmc__stamps_close(ctl, &b);
    uint64_t after_b = stamp_of_key(ctl, key);
    assert_int_equal(after_b % 2, 0);
    assert_true(after_b > settled);
    shmc__stamps_close(ctl, &a);
    assert_int_equal(stamp_of_key(ctl, key), after_b);
}

static void slot_left_odd_is_never_trusted(void **state)
{
    struct tu_cache *f = *state;
    struct shmc__control *ctl = &tu_instance(f->c)->ctl;
    const char *key = "stamp-dead", *other = "stamp-alive";
    assert_int_not_equal(slot_of(key), slot_of(other));
    struct shmc__stamp_view seen;
    assert_true(shmc__stamps_read(ctl, hash_of(key), &seen));

    struct shmc__touched died = {0};
    shmc__touched_key(&died, hash_of(key));
    shmc__stamps_open(ctl, &died); /* and no close: the writer died */
    uint64_t left = stamp_of_key(ctl, key);
    for (int i = 0; i < 3; i++)
        assert_false(stamps_trusted(ctl, key));
    assert_false(shmc__stamps_same(ctl, &seen));
    assert_true(stamps_trusted(ctl, other));

    /* The next writer of the slot moves it on from the odd value. */
    struct shmc__touched next = {0};
    shmc__touched_key(&next, hash_of(key));
    shmc__stamps_open(ctl, &next);
    uint64_t next_odd = stamp_of_key(ctl, key);
    assert_int_equal(next_odd % 2, 1);
    assert_true(next_odd > left);
    assert_false(stamps_trusted(ctl, key));
    shmc__stamps_close(ctl, &next);
    assert_true(stamps_trusted(ctl, key));
    assert_false(shmc__stamps_same(ctl, &seen));
}

static void epoch_left_odd_is_never_trusted(void **state)
{
    struct tu_cache *f = *state;
    struct shmc__control *ctl = &tu_instance(f->c)->ctl;
    const char *keys[] = {"epoch-a", "epoch-b", "epoch-c"};
    uint64_t slots_before[3];
    struct shmc__stamp_view seen[3];
    for (int i = 0; i < 3; i++) {
        slots_before[i] = stamp_of_key(ctl, keys[i]);
        assert_true(shmc__stamps_read(ctl, hash_of(keys[i]), &seen[i]));
    }
    uint64_t epoch_before = epoch_of(ctl);

    struct shmc__touched died = {0};
    shmc__touched_all(&died);
    shmc__stamps_open(ctl, &died);
    uint64_t left = epoch_of(ctl);
    assert_int_equal(left % 2, 1);
    assert_true(left > epoch_before);
    for (int i = 0; i < 3; i++) {
        /* Every key is distrusted, although no slot moved. */
        assert_int_equal(stamp_of_key(ctl, keys[i]), slots_before[i]);
        assert_false(stamps_trusted(ctl, keys[i]));
        assert_false(shmc__stamps_same(ctl, &seen[i]));
    }

    struct shmc__touched next = {0};
    shmc__touched_all(&next);
    shmc__stamps_open(ctl, &next);
    assert_true(epoch_of(ctl) > left);
    assert_false(stamps_trusted(ctl, keys[0]));
    shmc__stamps_close(ctl, &next);
    assert_int_equal(epoch_of(ctl) % 2, 0);
    for (int i = 0; i < 3; i++) {
        assert_true(stamps_trusted(ctl, keys[i]));
        assert_false(shmc__stamps_same(ctl, &seen[i]));
    }
}

static int in_new_slot(const char *key, const void *slots)
{
    const struct shmc__touched *w = slots;
    for (unsigned i = 0; i < w->n; i++)
        if (w->slot[i] == slot_of(key))
            return 0;
    return 1;
}

/* Note keys in SHMC__TOUCHED_MAX distinct slots in w. */
static void touch_max_slots(struct shmc__touched *w)
{
    char key[32];
    for (unsigned i = 0; i < SHMC__TOUCHED_MAX; i++) {
        tu_find_key(key, sizeof key, "many", in_new_slot, w);
        shmc__touched_key(w, hash_of(key));
    }
}

static void too_many_slots_move_the_epoch(void **state)
{
    struct tu_cache *f = *state;
    struct shmc__control *ctl = &tu_instance(f->c)->ctl;
    char outsider[32];

    /* Exactly the limit: tracked slot by slot, the epoch stays. */
    struct shmc__touched w = {0};
    touch_max_slots(&w);
    assert_int_equal(w.n, SHMC__TOUCHED_MAX);
    assert_false(w.all);
    uint64_t epoch_before = epoch_of(ctl);
    shmc__stamps_open(ctl, &w);
    shmc__stamps_close(ctl, &w);
    assert_int_equal(epoch_of(ctl), epoch_before);

    /* One slot more: the transaction cannot name them all. */
    struct shmc__touched more = {0};
    touch_max_slots(&more);
    tu_find_key(outsider, sizeof outsider, "outsider", in_new_slot, &more);
    struct shmc__stamp_view seen;
    assert_true(shmc__stamps_read(ctl, hash_of(outsider), &seen));
    shmc__touched_key(&more, hash_of(outsider));
    assert_true(more.all);
    shmc__stamps_open(ctl, &more);
    assert_int_equal(epoch_of(ctl) % 2, 1);
    assert_false(stamps_trusted(ctl, outsider));
    shmc__stamps_close(ctl, &more);
    uint64_t epoch_after = epoch_of(ctl);
    assert_int_equal(epoch_after % 2, 0);
    assert_true(epoch_after > epoch_before);
    /* The outsider's own slot was not tracked: only the epoch tells. */
    assert_false(shmc__stamps_same(ctl, &seen));
}

static void same_slot_twice_is_tracked_once(void **state)
{
    struct tu_cache *f = *state;
    struct shmc__control *ctl = &tu_instance(f->c)->ctl;
    const char *key = "twice";
    char neighbour[32];
    tu_find_key(neighbour, sizeof neighbour, "neighbour", in_slot_of, key);

    struct shmc__touched w = {0};
    for (unsigned i = 0; i < 2 * SHMC__TOUCHED_MAX; i++) {
        shmc__touched_key(&w, hash_of(key));
        shmc__touched_key(&w, hash_of(neighbour));
    }
    assert_int_equal(w.n, 1);
    assert_false(w.all);
    uint64_t before = stamp_of_key(ctl, key), epoch_before = epoch_of(ctl);
    shmc__stamps_open(ctl, &w);
    assert_int_equal(stamp_of_key(ctl, key), before + 1);
    shmc__stamps_close(ctl, &w);
    assert_int_equal(stamp_of_key(ctl, key), before + 2);
    assert_int_equal(epoch_of(ctl), epoch_before);
}

/* ---- L1 hits ------------------------------------------------------------ */

static int view_copy(const void *val, size_t len, const shmc_meta *meta,
                     void *arg)
{
    struct read_result *r = arg;
    r->len = len < sizeof r->val ? len : sizeof r->val;
    memcpy(r->val, val, r->len);
    r->meta = *meta;
    return 0;
}

static void second_read_is_an_l1_hit(void **state)
{
    shmc_cache *c = open_with_l1(*state, L1_ENTRIES);
    const char *key = "hot", *val = "hot-value";
    uint64_t version = 0;
    tu_assert_rc(shmc_set_ex(c, key, 3, val, 9, NULL, &version), 0);

    shmc_stats s0 = tu_stats(c);
    struct read_result first = read_key(c, key, 0);
    shmc_stats s1 = tu_stats(c);
    struct read_result second = read_key(c, key, 0);
    shmc_stats s2 = tu_stats(c);
    tu_assert_rc(first.rc, 0);
    tu_assert_rc(second.rc, 0);
    assert_int_equal(s1.hits, s0.hits + 1);
    assert_int_equal(s1.l1_hits, s0.l1_hits);
    assert_int_equal(s2.hits, s1.hits + 1);
    assert_int_equal(s2.l1_hits, s1.l1_hits + 1);
    assert_int_equal(second.len, 9);
    assert_memory_equal(second.val, val, 9);
    assert_memory_equal(&second.meta, &first.meta, sizeof first.meta);
    assert_int_equal(second.meta.version, version);

    /* Every way of reading is served by the copy. */
    void *alloc = NULL;
    size_t len = 0;
    tu_assert_rc(shmc_get_alloc(c, key, 3, &alloc, &len, NULL, 0), 0);
    assert_int_equal(len, 9);
    assert_string_equal(alloc, val);
    shmc_free(alloc);
    struct read_result viewed;
    memset(&viewed, 0, sizeof viewed);
    tu_assert_rc(shmc_get_view(c, key, 3, 0, view_copy, &viewed), 0);
    assert_int_equal(viewed.len, 9);
    assert_memory_equal(viewed.val, val, 9);
    assert_int_equal(viewed.meta.version, version);
    shmc_stats s3 = tu_stats(c);
    assert_int_equal(s3.l1_hits, s2.l1_hits + 2);
    assert_int_equal(s3.hits, s2.hits + 2);
    /* A miss is not a hit of any kind. */
    read_expecting(c, "absent", NULL);
    assert_false(read_expecting(c, "absent", NULL));
    shmc_close(c);
}

static void no_l1_means_no_l1_hits(void **state)
{
    shmc_cache *c = open_with_l1(*state, 0);
    tu_set(c, "hot", "hot-value");
    shmc_stats before = tu_stats(c);
    for (int i = 0; i < 10; i++)
        read_expecting(c, "hot", "hot-value");
    shmc_stats after = tu_stats(c);
    assert_int_equal(after.hits, before.hits + 10);
    assert_int_equal(after.l1_hits, 0);
    shmc_close(c);
}

/* A key of klen bytes and a value that make up `total` bytes. */
static void item_of_size(char *key, size_t klen, char *val, size_t total,
                         char fill)
{
    memset(key, fill, klen);
    key[klen] = '\0';
    for (size_t i = 0; i < total - klen; i++)
        val[i] = (char)('a' + i % 26);
    val[total - klen] = '\0';
}

static void big_items_are_never_l1_hits(void **state)
{
    shmc_cache *c = open_with_l1(*state, L1_ENTRIES);
    static const struct {
        size_t klen, total;
        int cached;
    } items[] = {
        {10, SHMC__L1_ITEM_MAX, 1},
        {10, SHMC__L1_ITEM_MAX + 1, 0},
        {SHMC__L1_ITEM_MAX, SHMC__L1_ITEM_MAX, 1}, /* an empty value */
        {SHMC__L1_ITEM_MAX + 1, SHMC__L1_ITEM_MAX + 2, 0},
        {600, 610, 0}, /* stored under its digest */
    };
    char key[700], val[700];
    for (size_t i = 0; i < sizeof items / sizeof items[0]; i++) {
        item_of_size(key, items[i].klen, val, items[i].total,
                     (char)('A' + i));
        tu_set(c, key, val);
        read_expecting(c, key, val);
        for (int r = 0; r < 3; r++)
            if (read_expecting(c, key, val) != items[i].cached)
                fail_msg("item of %zu bytes (key %zu): %s", items[i].total,
                         items[i].klen,
                         items[i].cached ? "not served by the L1"
                                         : "served by the L1");
    }
    shmc_close(c);
}

/* ---- invalidation by writes of other handles and processes -------------- */

#define INVAL_KEY "inval-key"
#define INVAL_PREFIX "inval-"

static int change_set(shmc_cache *c)
{
    return shmc_set(c, INVAL_KEY, strlen(INVAL_KEY), "new", 3, 0);
}

static int change_del(shmc_cache *c)
{
    return shmc_del(c, INVAL_KEY, strlen(INVAL_KEY));
}

static int change_touch(shmc_cache *c)
{
    return shmc_touch(c, INVAL_KEY, strlen(INVAL_KEY), 3600000);
}

static int change_mset(shmc_cache *c)
{
    shmc_item items[] = {{"other", 5, "x", 1},
                         {INVAL_KEY, strlen(INVAL_KEY), "new-mset", 8}};
    return shmc_mset(c, items, 2, NULL);
}

/* More keys than one transaction tracks: the epoch path. */
static int change_mset_many(shmc_cache *c)
{
    enum { N = 2 * SHMC__TOUCHED_MAX };
    char names[N][16];
    shmc_item items[N + 1];
    for (int i = 0; i < N; i++) {
        int len = snprintf(names[i], sizeof names[i], "many-%d", i);
        items[i] = (shmc_item){names[i], (size_t)len, "y", 1};
    }
    items[N] = (shmc_item){INVAL_KEY, strlen(INVAL_KEY), "new-many", 8};
    return shmc_mset(c, items, N + 1, NULL);
}

static int change_mdel(shmc_cache *c)
{
    shmc_item items[] = {{"absent", 6, NULL, 0},
                         {INVAL_KEY, strlen(INVAL_KEY), NULL, 0}};
    size_t deleted = 0;
    int rc = shmc_mdel(c, items, 2, &deleted);
    return rc == 0 && deleted != 1 ? SHMC_EINTERNAL : rc;
}

static int change_del_prefix(shmc_cache *c)
{
    size_t deleted = 0;
    int rc = shmc_del_prefix(c, INVAL_PREFIX, strlen(INVAL_PREFIX), &deleted);
    return rc == 0 && deleted != 1 ? SHMC_EINTERNAL : rc;
}

static int change_clear(shmc_cache *c)
{
    return shmc_clear(c);
}

static const struct change {
    const char *name;
    int (*fn)(shmc_cache *c);
} changes[] = {
    {"set", change_set},
    {"del", change_del},
    {"touch", change_touch},
    {"mset", change_mset},
    {"mset of many keys", change_mset_many},
    {"mdel", change_mdel},
    {"del_prefix", change_del_prefix},
    {"clear", change_clear},
};
#define CHANGES (sizeof changes / sizeof changes[0])

static void assert_same_read(const struct read_result *got,
                             const struct read_result *want,
                             const char *change, const char *who)
{
    if (got->rc != want->rc || got->len != want->len ||
        memcmp(got->val, want->val, got->len) != 0 ||
        memcmp(&got->meta, &want->meta, sizeof got->meta) != 0)
        fail_msg("after %s by %s, the L1 reader got %s \"%.*s\" version "
                 "%llu, LMDB holds %s \"%.*s\" version %llu",
                 change, who, shmc_err_name(got->rc), (int)got->len,
                 got->val, (unsigned long long)got->meta.version,
                 shmc_err_name(want->rc), (int)want->len, want->val,
                 (unsigned long long)want->meta.version);
}

/* End a forked child. It closes the handles it inherited first: under
 * valgrind, which follows a fork, the child's exit is checked for leaks. */
static _Noreturn void close_and_exit(int failed, shmc_cache *a,
                                     shmc_cache *b)
{
    shmc_close(a);
    shmc_close(b);
    _exit(failed);
}

/* Run the change through writer, in this process or in a forked child
 * (which also inherits reader). */
static void make_change(const struct change *ch, shmc_cache *writer,
                        shmc_cache *reader, int in_child)
{
    if (!in_child) {
        tu_assert_rc(ch->fn(writer), 0);
        return;
    }
    pid_t pid = tu_fork();
    if (pid == 0) {
        int rc = ch->fn(writer);
        if (rc)
            fprintf(stderr, "child: %s: %s: %s\n", ch->name,
                    shmc_err_name(rc), shmc_last_error());
        close_and_exit(rc != 0, writer, reader);
    }
    if (tu_wait_child(pid, CHILD_TIMEOUT_S))
        fail_msg("the child making the %s failed", ch->name);
}

/* For each change: the reader has the key in its L1, another handle (or
 * another process) changes it, and the reader's next reads must give what
 * LMDB now holds, read through a handle without an L1. */
static void changes_invalidate(const struct tu_dir *d, int in_child)
{
    shmc_cache *reader = open_with_l1(d, L1_ENTRIES);
    shmc_cache *writer = open_with_l1(d, 0);
    const char *who = in_child ? "another process" : "another handle";
    for (size_t i = 0; i < CHANGES; i++) {
        tu_set(writer, INVAL_KEY, "old");
        warm(reader, INVAL_KEY, "old");
        struct read_result old = read_key(writer, INVAL_KEY, 0);

        make_change(&changes[i], writer, reader, in_child);
        struct read_result now = read_key(writer, INVAL_KEY, 0);
        if (now.rc == 0 && now.meta.version == old.meta.version)
            fail_msg("%s by %s did not change the entry", changes[i].name,
                     who);
        for (int r = 0; r < 2; r++) {
            struct read_result got = read_key(reader, INVAL_KEY, 0);
            assert_same_read(&got, &now, changes[i].name, who);
        }
    }
    shmc_close(writer);
    shmc_close(reader);
}

static void writes_of_another_handle_invalidate(void **state)
{
    changes_invalidate(*state, 0);
}

static void writes_of_another_process_invalidate(void **state)
{
    changes_invalidate(*state, 1);
}

struct change_in_view {
    const struct change *change;
    shmc_cache *writer;
    int rc; /* the change's */
};

static int change_while_viewing(const void *val, size_t len,
                                const shmc_meta *meta, void *arg)
{
    struct change_in_view *v = arg;
    (void)val;
    (void)len;
    (void)meta;
    v->rc = v->change->fn(v->writer);
    return 0;
}

/* A view callback runs inside the read, on the snapshot read from LMDB:
 * a change committed while it runs makes that snapshot old before the
 * reader could keep a copy of it. The copy must not be kept. */
static void changes_during_a_read_are_not_cached(void **state)
{
    shmc_cache *reader = open_with_l1(*state, L1_ENTRIES);
    shmc_cache *writer = open_with_l1(*state, 0);
    for (size_t i = 0; i < CHANGES; i++) {
        tu_set(writer, INVAL_KEY, "old");
        struct change_in_view v = {&changes[i], writer, -1};
        uint64_t before = l1_hits(reader);
        tu_assert_rc(shmc_get_view(reader, INVAL_KEY, strlen(INVAL_KEY), 0,
                                   change_while_viewing, &v),
                     0);
        if (l1_hits(reader) != before)
            fail_msg("the read before the %s came from the L1",
                     changes[i].name);
        if (v.rc)
            fail_msg("%s inside the view: %s", changes[i].name,
                     shmc_err_name(v.rc));
        struct read_result now = read_key(writer, INVAL_KEY, 0);
        for (int r = 0; r < 2; r++) {
            struct read_result got = read_key(reader, INVAL_KEY, 0);
            assert_same_read(&got, &now, changes[i].name,
                             "a view callback");
        }
    }
    shmc_close(writer);
    shmc_close(reader);
}

/* The keys around one key of a stamp slot test: neighbour shares its
 * stamp slot, elsewhere neither its slot nor its L1 entry. */
struct slot_scene {
    char neighbour[32], elsewhere[32];
};

#define ELSEWHERE_VALUE "elsewhere-value"

/* Find the keys around key, store key = val and elsewhere through
 * writer, and warm both in reader's L1; the neighbour is not stored. */
static void warm_slot_scene(shmc_cache *reader, shmc_cache *writer,
                            const char *key, const char *val,
                            struct slot_scene *scene)
{
    tu_find_key(scene->neighbour, sizeof scene->neighbour, "neighbour",
                in_slot_of, key);
    tu_find_key(scene->elsewhere, sizeof scene->elsewhere, "elsewhere",
                apart_from, key);
    tu_set(writer, key, val);
    tu_set(writer, scene->elsewhere, ELSEWHERE_VALUE);
    warm(reader, key, val);
    warm(reader, scene->elsewhere, ELSEWHERE_VALUE);
}

static void write_to_a_slot_neighbour_costs_one_miss(void **state)
{
    shmc_cache *reader = open_with_l1(*state, L1_ENTRIES);
    shmc_cache *writer = open_with_l1(*state, 0);
    const char *key = "slot-owner";
    struct slot_scene scene;
    warm_slot_scene(reader, writer, key, "owner-value", &scene);

    tu_set(writer, scene.neighbour, "neighbour-value");
    assert_lmdb_read(reader, key, "owner-value");
    assert_l1_hit(reader, key, "owner-value");
    /* Another slot is not touched at all. */
    assert_l1_hit(reader, scene.elsewhere, ELSEWHERE_VALUE);
    assert_lmdb_read(reader, scene.neighbour, "neighbour-value");
    shmc_close(writer);
    shmc_close(reader);
}

/* ---- TTL through the L1 ------------------------------------------------- */

static void sleep_until_ms(uint64_t wall_ms)
{
    uint64_t now = shmc_now_ms();
    if (now < wall_ms)
        tu_sleep_ms((unsigned)(wall_ms - now));
}

/* Fresh and stale windows long enough for a few reads under valgrind. */
static uint64_t window_ms(void)
{
    return tu_under_valgrind() ? 1500 : 200;
}

/* Store key with the windows, read it into the L1 and check the reads
 * happened while it was fresh. Returns the fresh-until time. */
static uint64_t cache_expiring(shmc_cache *writer, shmc_cache *reader,
                               const char *key, uint64_t stale_ms)
{
    shmc_set_opts o = {.fresh_until_ms = shmc_now_ms() + window_ms(),
                       .stale_ms = stale_ms};
    tu_assert_rc(shmc_set_ex(writer, key, strlen(key), "v", 1, &o, NULL), 0);
    warm(reader, key, "v");
    if (shmc_now_ms() >= o.fresh_until_ms)
        fail_msg("the reads took longer than the fresh window of %llu ms",
                 (unsigned long long)window_ms());
    return o.fresh_until_ms;
}

static void l1_copy_expires_on_time(void **state)
{
    shmc_cache *reader = open_with_l1(*state, L1_ENTRIES);
    shmc_cache *writer = open_with_l1(*state, 0);
    uint64_t fresh_until = cache_expiring(writer, reader, "short", 0);
    sleep_until_ms(fresh_until + 1);
    shmc_stats before = tu_stats(reader);
    assert_int_equal(read_key(reader, "short", SHMC_GET_STALE).rc,
                     SHMC_ENOTFOUND);
    assert_int_equal(read_key(reader, "short", 0).rc, SHMC_ENOTFOUND);
    shmc_stats after = tu_stats(reader);
    assert_int_equal(after.expired, before.expired + 2);
    assert_int_equal(after.misses, before.misses + 2);
    assert_int_equal(after.l1_hits, before.l1_hits);
    assert_int_equal(after.hits + after.stale_hits,
                     before.hits + before.stale_hits);
    shmc_close(writer);
    shmc_close(reader);
}

static void l1_copy_keeps_the_stale_window(void **state)
{
    shmc_cache *reader = open_with_l1(*state, L1_ENTRIES);
    shmc_cache *writer = open_with_l1(*state, 0);
    uint64_t fresh_until = cache_expiring(writer, reader, "stale",
                                          window_ms());
    uint64_t expires_at = fresh_until + window_ms();

    sleep_until_ms(fresh_until + 1);
    shmc_stats before = tu_stats(reader);
    assert_int_equal(read_key(reader, "stale", 0).rc, SHMC_ENOTFOUND);
    struct read_result stale = read_key(reader, "stale", SHMC_GET_STALE);
    shmc_stats during = tu_stats(reader);
    if (shmc_now_ms() >= expires_at)
        fail_msg("the reads took longer than the stale window");
    tu_assert_rc(stale.rc, SHMC_STALE);
    assert_int_equal(stale.len, 1);
    assert_int_equal(stale.val[0], 'v');
    assert_int_equal(stale.meta.fresh_until_ms, fresh_until);
    assert_int_equal(stale.meta.expires_at_ms, expires_at);
    assert_int_equal(during.misses, before.misses + 1);
    assert_int_equal(during.stale_hits, before.stale_hits + 1);
    assert_int_equal(during.l1_hits, before.l1_hits + 1);

    sleep_until_ms(expires_at + 1);
    assert_int_equal(read_key(reader, "stale", SHMC_GET_STALE).rc,
                     SHMC_ENOTFOUND);
    assert_int_equal(read_key(reader, "stale", 0).rc, SHMC_ENOTFOUND);
    shmc_stats after = tu_stats(reader);
    assert_int_equal(after.expired, during.expired + 2);
    assert_int_equal(after.l1_hits, during.l1_hits);
    assert_int_equal(after.stale_hits, during.stale_hits);
    shmc_close(writer);
    shmc_close(reader);
}

/* ---- a writer that dies between its commit and its second stamp step ---- */

/* What shmc__writer_commit does, without the stamps_close: the key holds val in
 * LMDB and its slot is left odd. Runs in a child: returns an error code
 * and says why on stderr. */
static int commit_and_leave_slot_odd(shmc_cache *c, const char *key,
                                     const char *val)
{
    struct shmc__instance *inst;
    struct shmc__key k;
    struct shmc__txn t;
    void *dst;
    int rc = shmc__instance_get(c, &inst);
    if (rc == 0)
        rc = shmc__key_make(&k, key, strlen(key), &c->protect.keying);
    if (rc == 0)
        rc = shmc__write_begin(inst->store, &t);
    if (rc) {
        fprintf(stderr, "child: cannot start a write: %s\n",
                shmc_err_name(rc));
        return rc;
    }
    struct shmc__record r = {
        .fresh_until = UINT64_MAX,
        .expires_at = UINT64_MAX,
        .version = shmc__control_next_version(&inst->ctl, shmc_now_ms()),
        .value = val,
        .value_len = strlen(val),
    };
    rc = shmc__put(&t, k.table, k.stored, k.stored_len, shmc__record_size(&r),
                   &dst);
    if (rc) {
        shmc__write_abort(&t);
        fprintf(stderr, "child: put: %s\n", shmc_err_name(rc));
        return rc;
    }
    shmc__record_encode(dst, &r);
    struct shmc__touched w = {0};
    shmc__touched_key(&w, shmc__key_hash(key, strlen(key)));
    shmc__stamps_open(&inst->ctl, &w);
    rc = shmc__write_commit(&t);
    if (rc)
        fprintf(stderr, "child: commit: %s\n", shmc_err_name(rc));
    return rc;
}

enum death { DIES_BY_EXIT, DIES_BY_SIGKILL };

/* kill -9 the child pid as soon as it says it has committed, and reap it.
 * Fails the test if it ended by itself or never got there. */
static void kill_once_committed(pid_t pid, _Atomic int *committed)
{
    uint64_t deadline = tu_now_ns() + CHILD_TIMEOUT_S * 1000000000ull;
    while (!atomic_load(committed)) {
        if (waitpid(pid, NULL, WNOHANG) == pid)
            fail_msg("the dying writer ended before its commit");
        if (tu_now_ns() > deadline)
            break;
        tu_sleep_ms(1);
    }
    int killed = tu_kill_child(pid);
    if (!atomic_load(committed))
        fail_msg("the dying writer never committed");
    if (!killed)
        fail_msg("the dying writer was not ended by the kill (why: above)");
}

/* Fork a writer that commits key = val and dies before its second stamp
 * step, by _exit or by kill -9 from here. It inherits reader too. */
static void writer_dies_after_commit(shmc_cache *writer, shmc_cache *reader,
                                     const char *key, const char *val,
                                     enum death how)
{
    _Atomic int *committed = tu_shared(sizeof *committed);
    atomic_store(committed, 0);
    pid_t pid = tu_fork();
    if (pid == 0) {
        int rc = commit_and_leave_slot_odd(writer, key, val);
        if (rc || how == DIES_BY_EXIT)
            close_and_exit(rc != 0, writer, reader);
        atomic_store(committed, 1);
        for (;;)
            pause();
    }
    if (how == DIES_BY_EXIT) {
        if (tu_wait_child(pid, CHILD_TIMEOUT_S))
            fail_msg("the dying writer failed");
    } else {
        kill_once_committed(pid, committed);
    }
    tu_unshare(committed, sizeof *committed);
}

static void dead_writer_leaves_its_slot_untrusted(const struct tu_dir *d,
                                                  enum death how)
{
    shmc_cache *reader = open_with_l1(d, L1_ENTRIES);
    shmc_cache *writer = open_with_l1(d, 0);
    const char *key = "dead-writer-key";
    struct slot_scene scene;
    warm_slot_scene(reader, writer, key, "before", &scene);

    writer_dies_after_commit(writer, reader, key, "from-the-dead", how);
    assert_false(stamps_trusted(&tu_instance(reader)->ctl, key));
    /* The new value, and from LMDB every time: no copy of the slot is
     * trusted while it is odd. */
    for (int i = 0; i < 5; i++)
        assert_lmdb_read(reader, key, "from-the-dead");
    assert_l1_hit(reader, scene.elsewhere, ELSEWHERE_VALUE);

    /* A later write of the slot, of another key, ends its distrust. */
    tu_set(writer, scene.neighbour, "neighbour-value");
    assert_true(stamps_trusted(&tu_instance(reader)->ctl, key));
    assert_lmdb_read(reader, key, "from-the-dead");
    assert_l1_hit(reader, key, "from-the-dead");
    shmc_close(writer);
    shmc_close(reader);
}

static void writer_exiting_after_commit_leaves_slot_untrusted(void **state)
{
    dead_writer_leaves_its_slot_untrusted(*state, DIES_BY_EXIT);
}

static void writer_killed_after_commit_leaves_slot_untrusted(void **state)
{
    dead_writer_leaves_its_slot_untrusted(*state, DIES_BY_SIGKILL);
}

/* ---- a nested read inside a view callback served from the L1 ------------ */

#define NEST_ENTRIES 4u
#define NESTED_KEYS 2

struct nest {
    shmc_cache *c;
    const char *outer_val;
    char keys[NESTED_KEYS][32];
    char vals[NESTED_KEYS][32];
    int calls;
    int nested_wrong;    /* nested reads that gave the wrong answer */
    int outer_clobbered; /* the outer bytes changed under the callback */
};

static int same_l1_entry(const char *key, const void *other)
{
    return l1_entry_of(key, NEST_ENTRIES) ==
               l1_entry_of(other, NEST_ENTRIES) &&
           strcmp(key, other) != 0;
}

static int read_nested_keys(const void *val, size_t len,
                            const shmc_meta *meta, void *arg)
{
    struct nest *n = arg;
    (void)meta;
    n->calls++;
    for (int round = 0; round < 2; round++) {
        for (int i = 0; i < NESTED_KEYS; i++) {
            char buf[64];
            size_t blen = sizeof buf;
            int rc = shmc_get(n->c, n->keys[i], strlen(n->keys[i]), buf,
                              &blen, NULL, 0);
            n->nested_wrong += rc != 0 || blen != strlen(n->vals[i]) ||
                               memcmp(buf, n->vals[i], blen) != 0;
        }
    }
    n->outer_clobbered = len != strlen(n->outer_val) ||
                         memcmp(val, n->outer_val, len) != 0;
    return 0;
}

static void nested_reads_keep_the_outer_l1_copy(void **state)
{
    struct nest n = {.c = open_with_l1(*state, NEST_ENTRIES),
                     .outer_val = "the outer value, read in place"};
    const char *outer = "nest-outer";
    tu_set(n.c, outer, n.outer_val);
    for (int i = 0; i < NESTED_KEYS; i++) {
        char prefix[16];
        snprintf(prefix, sizeof prefix, "nested%d", i);
        tu_find_key(n.keys[i], sizeof n.keys[i], prefix, same_l1_entry, outer);
        snprintf(n.vals[i], sizeof n.vals[i], "nested value %d", i);
        tu_set(n.c, n.keys[i], n.vals[i]);
    }
    warm(n.c, outer, n.outer_val);

    uint64_t before = l1_hits(n.c);
    tu_assert_rc(shmc_get_view(n.c, outer, strlen(outer), 0,
                               read_nested_keys, &n),
                 0);
    assert_int_equal(n.calls, 1);
    assert_int_equal(n.nested_wrong, 0);
    assert_false(n.outer_clobbered);
    /* The outer read came from the L1; the nested ones could not be kept
     * in the held cache, so none of them was served from it either. */
    assert_int_equal(l1_hits(n.c) - before, 1);

    /* Released: the nested key can take the entry now. */
    warm(n.c, n.keys[0], n.vals[0]);
    assert_lmdb_read(n.c, outer, n.outer_val);
    shmc_close(n.c);
}

/* ---- threads ------------------------------------------------------------ */

#define THREAD_READERS 4
#define THREAD_KEYS 16

/* A value: its sequence number twice, the second inverted, so that a torn
 * or foreign value shows. */
struct seq_value {
    uint64_t seq, inverted;
};

struct race {
    shmc_cache *c;
    unsigned sets;
    /* Per key: the newest seq whose set began, and whose set returned. */
    _Atomic uint64_t begun[THREAD_KEYS], done[THREAD_KEYS];
    /* The writer starts once every reader reads. */
    _Atomic int readers_running;
    _Atomic int writer_finished;
    /* L1 hits counted by the time the last set returned: reads served from
     * a copy while the keys were being written. */
    uint64_t l1_hits_while_writing;
    struct tu_failures writer_failure;
};

struct race_reader {
    pthread_t thread;
    struct race *race;
    uint64_t seen[THREAD_KEYS];
    long reads_until_writer_ended;
    struct tu_failures failure;
};

static void thread_key(char *buf, size_t cap, unsigned key)
{
    snprintf(buf, cap, "race-%u", key);
}

static int set_seq(shmc_cache *c, unsigned key, uint64_t seq)
{
    char name[16];
    thread_key(name, sizeof name, key);
    struct seq_value v = {seq, ~seq};
    return shmc_set(c, name, strlen(name), &v, sizeof v, 0);
}

static void *write_increasing(void *arg)
{
    struct race *race = arg;
    while (atomic_load(&race->readers_running) < THREAD_READERS)
        sched_yield();
    for (unsigned i = 0; i < race->sets; i++) {
        unsigned key = i % THREAD_KEYS;
        uint64_t seq = atomic_load(&race->done[key]) + 1;
        atomic_store(&race->begun[key], seq);
        int rc = set_seq(race->c, key, seq);
        if (rc) {
            tu_note_failure(&race->writer_failure, "set: %s: %s",
                            shmc_err_name(rc), shmc_last_error());
            break;
        }
        atomic_store(&race->done[key], seq);
    }
    shmc_stats s;
    if (shmc_stats_get(race->c, &s) == 0)
        race->l1_hits_while_writing = s.l1_hits;
    atomic_store(&race->writer_finished, 1);
    return NULL;
}

/* Read key; its seq must be one that was current at some point during the
 * read, and not older than one this thread saw before. */
static void read_seq(struct race_reader *r, unsigned key)
{
    struct race *race = r->race;
    char name[16];
    struct seq_value v;
    size_t len = sizeof v;
    thread_key(name, sizeof name, key);
    uint64_t oldest = atomic_load(&race->done[key]);
    int rc = shmc_get(race->c, name, strlen(name), &v, &len, NULL, 0);
    uint64_t newest = atomic_load(&race->begun[key]);
    if (rc != 0 || len != sizeof v || v.inverted != ~v.seq) {
        tu_note_failure(&r->failure,
                        "get %s: %s, %zu bytes, not a whole value", name,
                        shmc_err_name(rc), len);
        return;
    }
    if (v.seq < oldest || v.seq > newest)
        tu_note_failure(&r->failure, "get %s: seq %llu, current during the "
                        "read were %llu to %llu", name,
                        (unsigned long long)v.seq, (unsigned long long)oldest,
                        (unsigned long long)newest);
    if (v.seq < r->seen[key])
        tu_note_failure(&r->failure, "get %s: seq %llu after seq %llu", name,
                        (unsigned long long)v.seq,
                        (unsigned long long)r->seen[key]);
    r->seen[key] = v.seq;
}

static void *read_while_written(void *arg)
{
    struct race_reader *r = arg;
    atomic_fetch_add(&r->race->readers_running, 1);
    while (!atomic_load(&r->race->writer_finished)) {
        for (unsigned key = 0; key < THREAD_KEYS; key++)
            read_seq(r, key);
        r->reads_until_writer_ended += THREAD_KEYS;
    }
    /* The writer is done: every key must read as its last set, twice (from
     * LMDB, then from the copy). */
    for (int pass = 0; pass < 2; pass++) {
        for (unsigned key = 0; key < THREAD_KEYS; key++) {
            read_seq(r, key);
            uint64_t last = atomic_load(&r->race->done[key]);
            if (r->seen[key] != last)
                tu_note_failure(&r->failure, "key %u: seq %llu after the "
                                "writer ended with %llu", key,
                                (unsigned long long)r->seen[key],
                                (unsigned long long)last);
        }
    }
    return NULL;
}

static void readers_never_go_back_in_time(void **state)
{
    /* A reader preempted inside a read pins the pages freed after its
     * snapshot: give the writer the default map. */
    shmc_opts opts = {.l1_entries = L1_ENTRIES};
    struct race *race = calloc(1, sizeof *race);
    struct race_reader *readers = calloc(THREAD_READERS, sizeof *readers);
    assert_true(race && readers);
    race->c = tu_open(*state, &opts);
    race->sets = tu_scaled(20000);
    for (unsigned key = 0; key < THREAD_KEYS; key++) {
        tu_assert_rc(set_seq(race->c, key, 1), 0);
        atomic_store(&race->begun[key], 1);
        atomic_store(&race->done[key], 1);
    }
    for (int i = 0; i < THREAD_READERS; i++) {
        readers[i].race = race;
        tu_start_thread(&readers[i].thread, read_while_written, &readers[i]);
    }
    pthread_t writer;
    tu_start_thread(&writer, write_increasing, race);
    tu_join_thread(writer);
    long reads = 0;
    for (int i = 0; i < THREAD_READERS; i++) {
        tu_join_thread(readers[i].thread);
        reads += readers[i].reads_until_writer_ended;
    }
    shmc_close(race->c);

    tu_assert_no_failure(&race->writer_failure, "writer");
    for (int i = 0; i < THREAD_READERS; i++) {
        char who[32];
        snprintf(who, sizeof who, "reader %d", i);
        tu_assert_no_failure(&readers[i].failure, who);
    }
    print_message("%ld reads until the writer ended, %llu L1 hits by then\n",
                  reads, (unsigned long long)race->l1_hits_while_writing);
    /* Otherwise the run proved nothing about the L1 under writes. */
    assert_true(race->l1_hits_while_writing > 0);
    free(readers);
    free(race);
}

/* ---- fork --------------------------------------------------------------- */

/* Steps of the dialogue between parent and child, in shared memory. */
enum fork_step {
    CHILD_READ_WARM = 1,
    PARENT_WROTE,
    CHILD_WROTE,
};

static int wait_step(_Atomic int *step, int want)
{
    uint64_t deadline = tu_now_ns() + CHILD_TIMEOUT_S * 1000000000ull;
    while (atomic_load(step) < want)
        if (tu_now_ns() > deadline)
            return 1;
        else
            tu_sleep_ms(1);
    return 0;
}

/* The child's side: 0, or 1 after saying on stderr what went wrong. */
static int child_reads_inherited_l1(shmc_cache *c, _Atomic int *step)
{
    if (tu_check_value(c, "fork-a", "parent-a-1") ||
        tu_check_value(c, "fork-b", "parent-b-1") ||
        tu_check_value(c, "fork-a", "parent-a-1"))
        return 1;
    atomic_store(step, CHILD_READ_WARM);
    if (wait_step(step, PARENT_WROTE)) {
        fprintf(stderr, "child: the parent never wrote\n");
        return 1;
    }
    if (tu_check_value(c, "fork-a", "parent-a-2") ||
        tu_check_value(c, "fork-a", "parent-a-2") ||
        tu_check_value(c, "fork-b", "parent-b-1"))
        return 1;
    int rc = shmc_set(c, "fork-b", 6, "child-b-2", 9, 0);
    if (rc) {
        fprintf(stderr, "child: set: %s\n", shmc_err_name(rc));
        return 1;
    }
    atomic_store(step, CHILD_WROTE);
    return 0;
}

static void warm_l1_crosses_fork(void **state)
{
    shmc_cache *c = open_with_l1(*state, L1_ENTRIES);
    tu_set(c, "fork-a", "parent-a-1");
    tu_set(c, "fork-b", "parent-b-1");
    warm(c, "fork-a", "parent-a-1");
    warm(c, "fork-b", "parent-b-1");
    _Atomic int *step = tu_shared(sizeof *step);
    atomic_store(step, 0);

    pid_t pid = tu_fork();
    if (pid == 0)
        close_and_exit(child_reads_inherited_l1(c, step), c, NULL);
    int stuck = wait_step(step, CHILD_READ_WARM);
    if (!stuck) {
        tu_set(c, "fork-a", "parent-a-2");
        atomic_store(step, PARENT_WROTE);
        stuck = wait_step(step, CHILD_WROTE);
    }
    int child_failed = tu_wait_child(pid, CHILD_TIMEOUT_S);
    tu_unshare(step, sizeof *step);
    if (stuck || child_failed)
        fail_msg("the child failed or got stuck (why: above)");
    /* The child's write reaches the parent's warm copy too. */
    assert_lmdb_read(c, "fork-b", "child-b-2");
    assert_l1_hit(c, "fork-b", "child-b-2");
    shmc_close(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        tu_test_with_cache(open_makes_slots_odd_and_close_even),
        tu_test_with_cache(close_leaves_a_later_writers_stamp_odd),
        tu_test_with_cache(slot_left_odd_is_never_trusted),
        tu_test_with_cache(epoch_left_odd_is_never_trusted),
        tu_test_with_cache(too_many_slots_move_the_epoch),
        tu_test_with_cache(same_slot_twice_is_tracked_once),
        tu_test_in_dir(second_read_is_an_l1_hit),
        tu_test_in_dir(no_l1_means_no_l1_hits),
        tu_test_in_dir(big_items_are_never_l1_hits),
        tu_test_in_dir(writes_of_another_handle_invalidate),
        tu_test_in_dir(writes_of_another_process_invalidate),
        tu_test_in_dir(changes_during_a_read_are_not_cached),
        tu_test_in_dir(write_to_a_slot_neighbour_costs_one_miss),
        tu_test_in_dir(l1_copy_expires_on_time),
        tu_test_in_dir(l1_copy_keeps_the_stale_window),
        tu_test_in_dir(writer_exiting_after_commit_leaves_slot_untrusted),
        tu_test_in_dir(writer_killed_after_commit_leaves_slot_untrusted),
        tu_test_in_dir(nested_reads_keep_the_outer_l1_copy),
        tu_test_in_dir(readers_never_go_back_in_time),
        tu_test_in_dir(warm_l1_crosses_fork),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
