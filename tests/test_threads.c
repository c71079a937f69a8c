/* test_threads.c - one handle, many threads (shmcache.h, THREADS): the
 * per-thread cached read transactions, nested reads from a view callback,
 * and the release of every thread's reader slot when it exits or its
 * handle is closed. */
#include "testutil.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Read key and compare with want (NULL: must be absent). Not
 * tu_check_value: a thread notes the failure in f, where a fault repeated
 * over thousands of reads counts up instead of flooding stderr. */
static void expect_read(shmc_cache *c, const char *key, const char *want,
                        struct tu_failures *f)
{
    char buf[128];
    size_t len = sizeof buf;
    int rc = shmc_get(c, key, strlen(key), buf, &len, NULL, 0);
    if (!want) {
        if (rc != SHMC_ENOTFOUND)
            tu_note_failure(f, "get \"%s\": %s, expected SHMC_ENOTFOUND", key,
                            shmc_err_name(rc));
        return;
    }
    if (rc != 0 || len != strlen(want) || memcmp(buf, want, len) != 0)
        tu_note_failure(f, "get \"%s\": %s, \"%.*s\", expected \"%s\": %s",
                        key, shmc_err_name(rc), rc == 0 ? (int)len : 0, buf,
                        want, shmc_last_error());
}

static void expect_set(shmc_cache *c, const char *key, const char *val,
                       struct tu_failures *f)
{
    int rc = shmc_set(c, key, strlen(key), val, strlen(val), 0);
    if (rc)
        tu_note_failure(f, "set \"%s\": %s: %s", key, shmc_err_name(rc),
                        shmc_last_error());
}

/* ---- many threads on one handle ---------------------------------------- */

#define THREADS 8
#define OWN_KEYS 16
#define SHARED_KEYS 4
/* A shared value is one byte repeated: a value torn between two writers,
 * or read from a page being rewritten, would not be. */
#define SHARED_LEN 64

struct worker {
    pthread_t thread;
    int id;
    shmc_cache *c;
    uint64_t deadline_ns;
    long iterations;
    long last[OWN_KEYS]; /* iteration of the last set; -1: absent */
    struct tu_failures failure;
};

static void own_names(char *key, char *val, size_t size, int id, int j,
                      long iteration)
{
    snprintf(key, size, "thread-%d-key-%d", id, j);
    snprintf(val, size, "thread-%d-key-%d-set-at-%ld", id, j, iteration);
}

static void set_shared(struct worker *w, long n)
{
    char key[32], val[SHARED_LEN];
    snprintf(key, sizeof key, "shared-%ld", n % SHARED_KEYS);
    memset(val, 'a' + (int)((w->id * 7 + n) % 26), sizeof val);
    int rc = shmc_set(w->c, key, strlen(key), val, sizeof val, 0);
    if (rc)
        tu_note_failure(&w->failure, "set %s: %s: %s", key, shmc_err_name(rc),
                        shmc_last_error());
}

static void check_shared(struct worker *w, long n)
{
    char key[32], val[SHARED_LEN + 1];
    size_t len = sizeof val;
    snprintf(key, sizeof key, "shared-%ld", (n / 3) % SHARED_KEYS);
    int rc = shmc_get(w->c, key, strlen(key), val, &len, NULL, 0);
    if (rc == SHMC_ENOTFOUND)
        return;
    int whole = rc == 0 && len == SHARED_LEN && val[0] >= 'a' &&
                val[0] <= 'z';
    for (size_t i = 1; whole && i < len; i++)
        whole = val[i] == val[0];
    if (!whole)
        tu_note_failure(&w->failure, "get %s: %s, %zu bytes, not one byte "
                        "repeated %d times",
                        key, shmc_err_name(rc), len, SHARED_LEN);
}

static void delete_shared(struct worker *w, long n)
{
    char key[32];
    snprintf(key, sizeof key, "shared-%ld", n % SHARED_KEYS);
    int rc = shmc_del(w->c, key, strlen(key));
    if (rc != 0 && rc != SHMC_ENOTFOUND)
        tu_note_failure(&w->failure, "del %s: %s", key, shmc_err_name(rc));
}

static void set_own(struct worker *w, int j, long n)
{
    char key[64], val[64];
    own_names(key, val, sizeof key, w->id, j, n);
    expect_set(w->c, key, val, &w->failure);
    w->last[j] = n;
    /* Nobody else writes this key: the read must see this very write. */
    expect_read(w->c, key, val, &w->failure);
}

static void delete_own(struct worker *w, int j)
{
    char key[64], val[64];
    own_names(key, val, sizeof key, w->id, j, 0);
    int rc = shmc_del(w->c, key, strlen(key));
    int want = w->last[j] >= 0 ? 0 : SHMC_ENOTFOUND;
    if (rc != want)
        tu_note_failure(&w->failure, "del %s: %s, expected %s", key,
                        shmc_err_name(rc), shmc_err_name(want));
    w->last[j] = -1;
    expect_read(w->c, key, NULL, &w->failure);
}

static void *work(void *arg)
{
    struct worker *w = arg;
    /* Every thread does some work even if it starts late. */
    enum { MIN_ITERATIONS = 64 };
    long n;
    for (n = 0; n < MIN_ITERATIONS || tu_now_ns() < w->deadline_ns; n++) {
        int j = (int)((n / 4) % OWN_KEYS);
        switch (n % 4) {
        case 0:
        case 1:
            set_own(w, j, n);
            break;
        case 2:
            set_shared(w, n);
            check_shared(w, n);
            break;
        case 3:
            delete_own(w, j);
            if (n % 16 == 3)
                delete_shared(w, n);
            break;
        }
    }
    w->iterations = n;
    return NULL;
}

static void test_threads_share_one_handle(void **state)
{
    /* A thread preempted inside a read pins every page freed after its
     * snapshot, and with eight threads writing flat out a 16 MB map fills
     * within a scheduler time slice: give them the default map. */
    shmc_opts opts = {.map_size = SHMC_DEFAULT_MAP_SIZE};
    shmc_cache *c = tu_open(*state, &opts);
    struct worker *workers = calloc(THREADS, sizeof *workers);
    assert_non_null(workers);
    uint64_t deadline = tu_now_ns() + tu_scaled(1000) * 1000000ull;
    for (int i = 0; i < THREADS; i++) {
        workers[i].id = i;
        workers[i].c = c;
        workers[i].deadline_ns = deadline;
        for (int j = 0; j < OWN_KEYS; j++)
            workers[i].last[j] = -1;
        tu_start_thread(&workers[i].thread, work, &workers[i]);
    }
    for (int i = 0; i < THREADS; i++)
        tu_join_thread(workers[i].thread);
    struct tu_failures final = {0};
    for (int i = 0; i < THREADS; i++) {
        char who[32];
        snprintf(who, sizeof who, "thread %d", i);
        tu_assert_no_failure(&workers[i].failure, who);
        for (int j = 0; j < OWN_KEYS; j++) {
            char key[64], val[64];
            own_names(key, val, sizeof key, i, j, workers[i].last[j]);
            expect_read(c, key, workers[i].last[j] >= 0 ? val : NULL,
                        &final);
        }
    }
    tu_assert_no_failure(&final, "reading back each thread's keys");
    free(workers);
    shmc_close(c);
}

/* ---- a view callback that reads ---------------------------------------- */

struct nested_read {
    shmc_cache *c;
    int calls;
    struct tu_failures failure;
};

static int matches(const void *val, size_t len, const char *want)
{
    return len == strlen(want) && memcmp(val, want, len) == 0;
}

static int check_inner(const void *val, size_t len, const shmc_meta *meta,
                       void *arg)
{
    (void)meta;
    return matches(val, len, arg) ? 0 : 1;
}

/* Returns a value of its own so that the test sees it passed through. */
#define VIEW_RESULT 42

static int read_others_while_viewing(const void *val, size_t len,
                                     const shmc_meta *meta, void *arg)
{
    struct nested_read *n = arg;
    n->calls++;
    if (!matches(val, len, "outer-value") || meta->value_len != len)
        tu_note_failure(&n->failure, "outer value \"%.*s\"", (int)len,
                        (const char *)val);
    expect_read(n->c, "inner", "inner-value", &n->failure);
    expect_read(n->c, "absent", NULL, &n->failure);
    int rc = shmc_get_view(n->c, "inner", 5, 0, check_inner,
                           (void *)"inner-value");
    if (rc != 0)
        tu_note_failure(&n->failure, "nested view of inner: %s",
                        shmc_err_name(rc));
    /* The nested reads must not have ended the outer transaction. */
    if (!matches(val, len, "outer-value"))
        tu_note_failure(&n->failure, "outer value changed under the callback");
    return VIEW_RESULT;
}

static void test_view_callback_reads_other_keys(void **state)
{
    shmc_cache *c = tu_open(*state, NULL);
    struct nested_read n = {.c = c};
    unsigned views = tu_scaled(100);
    tu_assert_rc(shmc_set(c, "outer", 5, "outer-value", 11, 0), 0);
    tu_assert_rc(shmc_set(c, "inner", 5, "inner-value", 11, 0), 0);
    for (unsigned i = 0; i < views; i++)
        tu_assert_rc(shmc_get_view(c, "outer", 5, 0,
                                   read_others_while_viewing, &n),
                     VIEW_RESULT);
    assert_int_equal(n.calls, views);
    tu_assert_no_failure(&n.failure, "inside the view callback");
    /* Afterwards the thread's cached transaction is free for plain reads,
     * and the nested transactions gave their reader slots back: the
     * thread's own slot and the one nested slot at a time. */
    expect_read(c, "outer", "outer-value", &n.failure);
    tu_assert_no_failure(&n.failure, "after the views");
    assert_in_range(tu_info(c).readers_used, 1, 3);
    shmc_close(c);
}

/* ---- short-lived threads ----------------------------------------------- */

struct one_read {
    shmc_cache *c;
    struct tu_failures failure;
};

static void *read_once(void *arg)
{
    struct one_read *r = arg;
    expect_read(r->c, "key", "value", &r->failure);
    return NULL;
}

/* Threads started at once that each read "key" (which must hold "value")
 * once through c and exit. */
#define READER_BATCH 4

static void read_once_in_threads(shmc_cache *c, const char *who)
{
    struct one_read reads[READER_BATCH];
    pthread_t threads[READER_BATCH];
    for (int i = 0; i < READER_BATCH; i++) {
        reads[i] = (struct one_read){.c = c};
        tu_start_thread(&threads[i], read_once, &reads[i]);
    }
    for (int i = 0; i < READER_BATCH; i++) {
        tu_join_thread(threads[i]);
        tu_assert_no_failure(&reads[i].failure, who);
    }
}

static void test_short_lived_threads_release_reader_slots(void **state)
{
    shmc_cache *c = tu_open(*state, NULL);
    tu_assert_rc(shmc_set(c, "key", 3, "value", 5, 0), 0);
    for (unsigned round = 0; round < tu_scaled(300) / READER_BATCH; round++)
        read_once_in_threads(c, "short-lived thread");
    /* Slots still held by exited threads would count one per thread. */
    assert_in_range(tu_info(c).readers_used, 0, 8);
    shmc_close(c);
}

/* ---- closing --------------------------------------------------------- */

static void test_close_after_threads_exited(void **state)
{
    const struct tu_dir *d = *state;
    shmc_cache *c = tu_open(d, NULL);
    tu_assert_rc(shmc_set(c, "key", 3, "value", 5, 0), 0);
    read_once_in_threads(c, "reader thread");
    struct tu_failures f = {0};
    expect_read(c, "key", "value", &f);
    tu_assert_no_failure(&f, "main thread");
    /* Memory checkers find anything the close leaves behind. */
    shmc_close(c);
    c = tu_open(d, NULL);
    expect_read(c, "key", "value", &f);
    tu_assert_no_failure(&f, "after reopening");
    shmc_close(c);
}

struct own_handle {
    const char *inst;
    struct tu_failures failure;
};

/* The common worker-thread life: open, read, close, exit. */
static void *open_read_close(void *arg)
{
    struct own_handle *h = arg;
    shmc_opts opts = {.map_size = TU_MAP_SIZE};
    shmc_cache *c;
    int rc = shmc_open(&c, h->inst, &opts);
    if (rc) {
        tu_note_failure(&h->failure, "open: %s: %s", shmc_err_name(rc),
                        shmc_last_error());
        return NULL;
    }
    expect_read(c, "key", "value", &h->failure);
    shmc_close(c);
    return NULL;
}

static void test_thread_closes_its_own_handle(void **state)
{
    const struct tu_dir *d = *state;
    shmc_cache *c = tu_open(d, NULL);
    tu_assert_rc(shmc_set(c, "key", 3, "value", 5, 0), 0);
    shmc_close(c);
    for (int i = 0; i < 3; i++) {
        struct own_handle h = {.inst = d->inst};
        pthread_t t;
        tu_start_thread(&t, open_read_close, &h);
        tu_join_thread(t);
        tu_assert_no_failure(&h.failure, "thread with its own handle");
    }
}

/* A thread that read keeps its reader while the main thread closes the
 * handle, then exits: its exit must not touch the closed store. */
struct idle_reader {
    shmc_cache *c;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int has_read, may_exit;
    struct tu_failures failure;
};

static void *read_then_wait(void *arg)
{
    struct idle_reader *r = arg;
    expect_read(r->c, "key", "value", &r->failure);
    pthread_mutex_lock(&r->lock);
    r->has_read = 1;
    pthread_cond_broadcast(&r->cond);
    while (!r->may_exit)
        pthread_cond_wait(&r->cond, &r->lock);
    pthread_mutex_unlock(&r->lock);
    return NULL;
}

static void test_close_while_reader_thread_idle(void **state)
{
    struct idle_reader r = {.c = tu_open(*state, NULL),
                            .lock = PTHREAD_MUTEX_INITIALIZER,
                            .cond = PTHREAD_COND_INITIALIZER};
    pthread_t t;
    tu_assert_rc(shmc_set(r.c, "key", 3, "value", 5, 0), 0);
    tu_start_thread(&t, read_then_wait, &r);
    pthread_mutex_lock(&r.lock);
    while (!r.has_read)
        pthread_cond_wait(&r.cond, &r.lock);
    pthread_mutex_unlock(&r.lock);
    shmc_close(r.c);
    pthread_mutex_lock(&r.lock);
    r.may_exit = 1;
    pthread_cond_broadcast(&r.cond);
    pthread_mutex_unlock(&r.lock);
    tu_join_thread(t);
    tu_assert_no_failure(&r.failure, "reader thread");
    /* The instance is still whole for a new handle. */
    shmc_cache *c = tu_open(*state, NULL);
    struct tu_failures f = {0};
    expect_read(c, "key", "value", &f);
    tu_assert_no_failure(&f, "after reopening");
    shmc_close(c);
}

/* Every reader slot held by a live thread: the next thread's read is
 * SHMC_EREADERS, not a hang, and succeeds once a holder has exited. */
static void *read_expecting_full(void *arg)
{
    struct idle_reader *r = arg;
    char buf[8];
    size_t len = sizeof buf;
    int rc = shmc_get(r->c, "key", 3, buf, &len, NULL, 0);
    if (rc != SHMC_EREADERS)
        tu_note_failure(&r->failure, "read with every slot taken: %s",
                        shmc_err_name(rc));
    return NULL;
}

static void wait_until_read(struct idle_reader *r)
{
    pthread_mutex_lock(&r->lock);
    while (!r->has_read)
        pthread_cond_wait(&r->cond, &r->lock);
    pthread_mutex_unlock(&r->lock);
}

static void let_exit(struct idle_reader *r)
{
    pthread_mutex_lock(&r->lock);
    r->may_exit = 1;
    pthread_cond_broadcast(&r->cond);
    pthread_mutex_unlock(&r->lock);
}

static void test_reader_slots_exhausted(void **state)
{
    enum { SLOTS = 3 };
    shmc_opts few = {.map_size = TU_MAP_SIZE, .max_readers = SLOTS};
    shmc_cache *c = tu_open(*state, &few);
    struct idle_reader holders[SLOTS - 1];
    pthread_t held[SLOTS - 1], extra;
    tu_assert_rc(shmc_set(c, "key", 3, "value", 5, 0), 0);
    struct tu_failures f = {0};
    expect_read(c, "key", "value", &f); /* the main thread's slot */
    tu_assert_no_failure(&f, "main thread");
    for (int i = 0; i < SLOTS - 1; i++) {
        holders[i] = (struct idle_reader){.c = c,
                                          .lock = PTHREAD_MUTEX_INITIALIZER,
                                          .cond = PTHREAD_COND_INITIALIZER};
        tu_start_thread(&held[i], read_then_wait, &holders[i]);
        wait_until_read(&holders[i]);
    }
    struct idle_reader late = {.c = c};
    tu_start_thread(&extra, read_expecting_full, &late);
    tu_join_thread(extra);
    tu_assert_no_failure(&late.failure, "thread beyond the slots");

    let_exit(&holders[0]);
    tu_join_thread(held[0]);
    struct idle_reader after = {.c = c,
                                .lock = PTHREAD_MUTEX_INITIALIZER,
                                .cond = PTHREAD_COND_INITIALIZER,
                                .may_exit = 1};
    tu_start_thread(&extra, read_then_wait, &after);
    tu_join_thread(extra);
    tu_assert_no_failure(&after.failure, "thread after a slot was freed");
    for (int i = 0; i < SLOTS - 1; i++) {
        if (i > 0) {
            let_exit(&holders[i]);
            tu_join_thread(held[i]);
        }
        tu_assert_no_failure(&holders[i].failure, "slot holder");
    }
    shmc_close(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        tu_test_in_dir(test_threads_share_one_handle),
        tu_test_in_dir(test_view_callback_reads_other_keys),
        tu_test_in_dir(test_short_lived_threads_release_reader_slots),
        tu_test_in_dir(test_close_after_threads_exited),
        tu_test_in_dir(test_thread_closes_its_own_handle),
        tu_test_in_dir(test_close_while_reader_thread_idle),
        tu_test_in_dir(test_reader_slots_exhausted),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
