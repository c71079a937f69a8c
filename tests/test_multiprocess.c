/* test_multiprocess.c - consistency of one instance under many writers.
 *
 * Forked workers get, set and delete random keys while logging every call
 * with monotonic timestamps taken just before and just after it. Every value
 * is unique (writer, sequence number) and carries a checksum, so the parent
 * can check afterwards, from the logs alone, that no read was torn, none
 * returned a value older than a write that finished before the read began,
 * none returned a value from the future, and no completed write was lost.
 * The run is made twice: reading straight from LMDB, and through the
 * workers' per-thread L1 (shmc_opts.l1_entries), which must not change any
 * of that.
 * The checker is itself tested on planted histories, so that a checker
 * that cannot fail cannot pass for a consistent cache. */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WORKERS 8
/* The parent writes the stable keys before the workers start, as one more
 * writer in the logs. */
#define PARENT_WRITER WORKERS
#define WRITERS (WORKERS + 1)
#define KEYS 1000u
/* Keys [0, STABLE_KEYS) are set, never deleted: a read of one never misses. */
#define STABLE_KEYS 100u
/* Of a worker's calls; the rest are deletes (sets, on stable keys). */
#define GET_PERCENT 50u
#define SET_PERCENT 35u
#define MIN_VALUE 32u
#define MAX_VALUE 512u
/* Calls a worker may log: far more than it makes in its run (a worker that
 * fills its log stops early). Pages are only touched as the log fills. */
#define LOG_CAPACITY (1u << 19)
#define CHILD_TIMEOUT_S 25
/* Violations printed per kind: enough to debug, not a flood. */
#define SHOWN_PER_KIND 5

/* A value: checksum over the rest, its identity, then padding. */
#define VALUE_SUM_AT 0
#define VALUE_WRITER_AT 8
#define VALUE_SEQ_AT 12
#define VALUE_HEAD 16

enum op_kind { OP_GET_HIT, OP_GET_MISS, OP_SET, OP_DEL, OP_KINDS };

struct op {
    uint64_t start_ns, end_ns;
    uint32_t seq;    /* value identity: the writer's sequence number */
    uint16_t key;
    uint16_t len;    /* bytes written, or bytes read */
    uint8_t kind;    /* enum op_kind */
    uint8_t writer;  /* value identity: who wrote it */
    uint8_t intact;  /* hit: the checksum matched the bytes read */
};

struct op_log {
    size_t count;
    struct op *ops;
};

/* One log per writer; sets appear in each log in sequence order. */
struct history {
    struct op_log logs[WRITERS];
};

struct verdict {
    size_t torn;        /* bad checksum, or not the length its writer wrote */
    size_t unknown;     /* identity of no logged set */
    size_t wrong_key;   /* a value written to another key */
    size_t future;      /* its set started after the read ended */
    size_t stale;       /* overwritten or deleted before the read began */
    size_t lost;        /* a miss although a completed set was never deleted */
    size_t stable_miss; /* a miss on a key that is never deleted */
};

static size_t verdict_total(const struct verdict *v)
{
    return v->torn + v->unknown + v->wrong_key + v->future + v->stale +
           v->lost + v->stable_miss;
}

/* ---- values ----------------------------------------------------------- */

static uint64_t fnv1a64(const unsigned char *p, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

static uint64_t xorshift64(uint64_t *state)
{
    uint64_t x = *state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return *state = x;
}

/* Fill v with a value of random length; returns the length. */
static size_t make_value(unsigned char *v, uint32_t writer, uint32_t seq,
                         uint64_t *rng)
{
    size_t len = MIN_VALUE + xorshift64(rng) % (MAX_VALUE - MIN_VALUE + 1);
    memcpy(v + VALUE_WRITER_AT, &writer, sizeof writer);
    memcpy(v + VALUE_SEQ_AT, &seq, sizeof seq);
    for (size_t i = VALUE_HEAD; i < len; i++)
        v[i] = (unsigned char)xorshift64(rng);
    uint64_t sum = fnv1a64(v + VALUE_WRITER_AT, len - VALUE_WRITER_AT);
    memcpy(v + VALUE_SUM_AT, &sum, sizeof sum);
    return len;
}

static int value_intact(const unsigned char *v, size_t len)
{
    uint64_t sum;
    if (len < VALUE_HEAD || len > MAX_VALUE)
        return 0;
    memcpy(&sum, v + VALUE_SUM_AT, sizeof sum);
    return sum == fnv1a64(v + VALUE_WRITER_AT, len - VALUE_WRITER_AT);
}

static size_t key_name(char *buf, size_t cap, unsigned key)
{
    return (size_t)snprintf(buf, cap, "mp-key-%04u", key);
}

/* ---- the checker ------------------------------------------------------ */

/* One write's interval, keyed by one end (`at`, the sort order) and carrying
 * the largest other end among it and every write before it in that order. */
struct point {
    uint64_t at;
    uint64_t max_other;
};

/* Writes of one kind bucketed by key, so that "among the writes of key K
 * whose `at` is at most t, the largest other end" is one binary search. */
struct write_index {
    size_t first[KEYS + 1];
    struct point *points;
};

typedef int (*op_filter)(const struct op *o);

enum point_order { BY_END, BY_START };

static int is_write(const struct op *o)
{
    return o->kind == OP_SET || o->kind == OP_DEL;
}

static int is_set(const struct op *o)
{
    return o->kind == OP_SET;
}

static int is_del(const struct op *o)
{
    return o->kind == OP_DEL;
}

static int point_cmp(const void *a, const void *b)
{
    const struct point *x = a, *y = b;
    return (x->at > y->at) - (x->at < y->at);
}

static void index_build(struct write_index *ix, const struct history *h,
                        op_filter keep, enum point_order order)
{
    size_t fill[KEYS] = {0};
    memset(ix->first, 0, sizeof ix->first);
    for (int w = 0; w < WRITERS; w++)
        for (size_t i = 0; i < h->logs[w].count; i++)
            if (keep(&h->logs[w].ops[i]))
                ix->first[h->logs[w].ops[i].key + 1]++;
    for (unsigned k = 0; k < KEYS; k++)
        ix->first[k + 1] += ix->first[k];
    ix->points = malloc((ix->first[KEYS] + 1) * sizeof *ix->points);
    assert_non_null(ix->points);
    for (int w = 0; w < WRITERS; w++) {
        for (size_t i = 0; i < h->logs[w].count; i++) {
            const struct op *o = &h->logs[w].ops[i];
            if (!keep(o))
                continue;
            struct point *p = &ix->points[ix->first[o->key] + fill[o->key]++];
            p->at = order == BY_END ? o->end_ns : o->start_ns;
            p->max_other = order == BY_END ? o->start_ns : o->end_ns;
        }
    }
    for (unsigned k = 0; k < KEYS; k++) {
        struct point *p = ix->points + ix->first[k];
        size_t n = ix->first[k + 1] - ix->first[k];
        qsort(p, n, sizeof *p, point_cmp);
        for (size_t i = 1; i < n; i++)
            if (p[i].max_other < p[i - 1].max_other)
                p[i].max_other = p[i - 1].max_other;
    }
}

/* Among key's writes with at <= limit: 1 and the largest other end, or 0
 * when there is none. */
static int index_latest(const struct write_index *ix, unsigned key,
                        uint64_t limit, uint64_t *max_other)
{
    size_t lo = ix->first[key], hi = ix->first[key + 1];
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (ix->points[mid].at <= limit)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == ix->first[key])
        return 0;
    *max_other = ix->points[lo - 1].max_other;
    return 1;
}

/* A checker's findings, and where to describe the first few (NULL: say
 * nothing, for planted faults the test expects). */
struct checker {
    struct verdict found;
    FILE *report;
};

static void flag(struct checker *ck, size_t *counter, const char *kind,
                 const struct op *get, int reader)
{
    if ((*counter)++ >= SHOWN_PER_KIND || !ck->report)
        return;
    fprintf(ck->report, "%s: reader %d, key %u, get [%llu, %llu] ns", kind,
            reader, get->key, (unsigned long long)get->start_ns,
            (unsigned long long)get->end_ns);
    if (get->kind == OP_GET_HIT)
        fprintf(ck->report, ", value of writer %u seq %u, %u bytes",
                get->writer, get->seq, get->len);
    fputc('\n', ck->report);
}

/* Every logged set by its value's identity. */
struct set_table {
    const struct op **by_seq[WRITERS];
    size_t count[WRITERS];
};

static void set_table_build(struct set_table *t, const struct history *h)
{
    for (int w = 0; w < WRITERS; w++) {
        t->by_seq[w] = malloc((h->logs[w].count + 1) * sizeof(struct op *));
        assert_non_null(t->by_seq[w]);
        t->count[w] = 0;
        for (size_t i = 0; i < h->logs[w].count; i++)
            if (h->logs[w].ops[i].kind == OP_SET)
                t->by_seq[w][t->count[w]++] = &h->logs[w].ops[i];
    }
}

static void set_table_free(struct set_table *t)
{
    for (int w = 0; w < WRITERS; w++)
        free(t->by_seq[w]);
}

/* The set that wrote get's value, or NULL when no log holds it. */
static const struct op *set_of(const struct set_table *t,
                               const struct op *get)
{
    if (get->writer >= WRITERS || get->seq >= t->count[get->writer])
        return NULL;
    return t->by_seq[get->writer][get->seq];
}

static void check_hit(struct checker *ck, const struct op *get, int reader,
                      const struct op *set, const struct write_index *writes)
{
    if (!get->intact) {
        flag(ck, &ck->found.torn, "torn value (bad checksum)", get, reader);
        return;
    }
    if (!set) {
        flag(ck, &ck->found.unknown, "value no writer logged", get, reader);
        return;
    }
    if (set->key != get->key) {
        flag(ck, &ck->found.wrong_key, "value of another key", get, reader);
        return;
    }
    if (set->len != get->len)
        flag(ck, &ck->found.torn,
             "torn value (length differs from the set)", get, reader);
    if (set->start_ns > get->end_ns)
        flag(ck, &ck->found.future,
             "value whose set started after the get", get, reader);
    /* A write that began after this value's set ended and ended before the
     * get began is ordered between them: the value was gone. */
    uint64_t latest_start;
    if (index_latest(writes, get->key, get->start_ns - 1, &latest_start) &&
        latest_start > set->end_ns)
        flag(ck, &ck->found.stale,
             "stale value (overwritten before the get)", get, reader);
}

static void check_miss(struct checker *ck, const struct op *get, int reader,
                       const struct write_index *sets,
                       const struct write_index *dels)
{
    if (get->key < STABLE_KEYS) {
        flag(ck, &ck->found.stable_miss,
             "miss on a key never deleted", get, reader);
        return;
    }
    /* The newest set that ended before the get began must have been undone
     * by a delete that may be ordered after it (ended after it started) and
     * before the get (started before the get ended). */
    uint64_t set_start, del_end;
    if (index_latest(sets, get->key, get->start_ns - 1, &set_start) &&
        (!index_latest(dels, get->key, get->end_ns, &del_end) ||
         del_end < set_start))
        flag(ck, &ck->found.lost,
             "miss after a completed set never deleted", get, reader);
}

static struct verdict check_history(const struct history *h, FILE *report)
{
    struct checker ck = {.report = report};
    struct set_table by_identity;
    set_table_build(&by_identity, h);
    struct write_index *writes = malloc(sizeof *writes);
    struct write_index *sets = malloc(sizeof *sets);
    struct write_index *dels = malloc(sizeof *dels);
    assert_true(writes && sets && dels);
    index_build(writes, h, is_write, BY_END);
    index_build(sets, h, is_set, BY_END);
    index_build(dels, h, is_del, BY_START);
    for (int w = 0; w < WRITERS; w++) {
        for (size_t i = 0; i < h->logs[w].count; i++) {
            const struct op *o = &h->logs[w].ops[i];
            if (o->kind == OP_GET_HIT)
                check_hit(&ck, o, w, set_of(&by_identity, o), writes);
            else if (o->kind == OP_GET_MISS)
                check_miss(&ck, o, w, sets, dels);
        }
    }
    struct write_index *indexes[] = {writes, sets, dels};
    for (size_t i = 0; i < sizeof indexes / sizeof indexes[0]; i++) {
        free(indexes[i]->points);
        free(indexes[i]);
    }
    set_table_free(&by_identity);
    return ck.found;
}

/* ---- the run ----------------------------------------------------------- */

struct run {
    shmc_cache *c;
    struct history *h; /* in shared memory, like every log's ops */
    uint64_t duration_ns;
};

static void log_set(struct op_log *log, unsigned key, uint32_t writer,
                    uint32_t seq, size_t len, uint64_t start, uint64_t end)
{
    log->ops[log->count++] = (struct op){
        .start_ns = start, .end_ns = end, .seq = seq, .key = (uint16_t)key,
        .len = (uint16_t)len, .kind = OP_SET, .writer = (uint8_t)writer};
}

static int call_failed(int writer, const char *call, const char *name,
                       int rc)
{
    fprintf(stderr, "worker %d: %s %s: %s: %s\n", writer, call, name,
            shmc_err_name(rc), shmc_last_error());
    return 1;
}

static int timed_get(shmc_cache *c, struct op_log *log, int writer,
                     unsigned key, const char *name, size_t klen)
{
    /* Room for more than any writer writes, so a longer value shows. */
    unsigned char buf[2 * MAX_VALUE];
    size_t len = sizeof buf;
    uint64_t start = tu_now_ns();
    int rc = shmc_get(c, name, klen, buf, &len, NULL, 0);
    uint64_t end = tu_now_ns();
    struct op o = {.start_ns = start, .end_ns = end, .key = (uint16_t)key};
    if (rc == SHMC_ENOTFOUND) {
        o.kind = OP_GET_MISS;
    } else if (rc == 0 || rc == SHMC_EBUFSMALL) {
        /* A value longer than any writer wrote is torn as well. */
        o.kind = OP_GET_HIT;
        o.intact = rc == 0 && value_intact(buf, len);
        o.len = (uint16_t)(len > UINT16_MAX ? UINT16_MAX : len);
        if (o.intact) {
            uint32_t w;
            memcpy(&w, buf + VALUE_WRITER_AT, sizeof w);
            memcpy(&o.seq, buf + VALUE_SEQ_AT, sizeof o.seq);
            o.writer = (uint8_t)(w > UINT8_MAX ? UINT8_MAX : w);
        }
    } else {
        return call_failed(writer, "get", name, rc);
    }
    log->ops[log->count++] = o;
    return 0;
}

static int timed_set(shmc_cache *c, struct op_log *log, int writer,
                     unsigned key, const char *name, size_t klen,
                     uint32_t *seq, uint64_t *rng)
{
    unsigned char value[MAX_VALUE];
    size_t len = make_value(value, (uint32_t)writer, *seq, rng);
    uint64_t start = tu_now_ns();
    int rc = shmc_set(c, name, klen, value, len, 0);
    uint64_t end = tu_now_ns();
    if (rc != 0)
        return call_failed(writer, "set", name, rc);
    log_set(log, key, (uint32_t)writer, (*seq)++, len, start, end);
    return 0;
}

static int timed_del(shmc_cache *c, struct op_log *log, int writer,
                     unsigned key, const char *name, size_t klen)
{
    uint64_t start = tu_now_ns();
    int rc = shmc_del(c, name, klen);
    uint64_t end = tu_now_ns();
    if (rc != 0 && rc != SHMC_ENOTFOUND)
        return call_failed(writer, "del", name, rc);
    log->ops[log->count++] = (struct op){
        .start_ns = start, .end_ns = end, .key = (uint16_t)key,
        .kind = OP_DEL};
    return 0;
}

/* One timed call on a random key, appended to the worker's log: 0, or 1
 * after saying on stderr what went wrong. */
static int worker_step(shmc_cache *c, struct op_log *log, int writer,
                       uint32_t *seq, uint64_t *rng)
{
    char name[32];
    unsigned key = (unsigned)(xorshift64(rng) % KEYS);
    size_t klen = key_name(name, sizeof name, key);
    unsigned dice = (unsigned)(xorshift64(rng) % 100);
    if (dice < GET_PERCENT)
        return timed_get(c, log, writer, key, name, klen);
    if (dice < GET_PERCENT + SET_PERCENT || key < STABLE_KEYS)
        return timed_set(c, log, writer, key, name, klen, seq, rng);
    return timed_del(c, log, writer, key, name, klen);
}

static int worker(void *arg, int index)
{
    const struct run *run = arg;
    struct op_log *log = &run->h->logs[index];
    uint64_t rng = 0x9e3779b97f4a7c15ull * (uint64_t)(index + 1) ^ tu_now_ns();
    uint32_t seq = 0;
    uint64_t stop = tu_now_ns() + run->duration_ns;
    while (log->count < LOG_CAPACITY && tu_now_ns() < stop)
        if (worker_step(run->c, log, index, &seq, &rng))
            return 1;
    return 0;
}

static struct history *history_share(void)
{
    struct history *h = tu_shared(sizeof *h);
    for (int w = 0; w < WRITERS; w++) {
        h->logs[w].count = 0;
        h->logs[w].ops = tu_shared(LOG_CAPACITY * sizeof(struct op));
    }
    return h;
}

static void history_unshare(struct history *h)
{
    for (int w = 0; w < WRITERS; w++)
        tu_unshare(h->logs[w].ops, LOG_CAPACITY * sizeof(struct op));
    tu_unshare(h, sizeof *h);
}

static void prepopulate_stable_keys(shmc_cache *c, struct op_log *log)
{
    unsigned char value[MAX_VALUE];
    char name[32];
    uint64_t rng = 0x2545f4914f6cdd1dull;
    for (unsigned key = 0; key < STABLE_KEYS; key++) {
        size_t klen = key_name(name, sizeof name, key);
        size_t len = make_value(value, PARENT_WRITER, key, &rng);
        uint64_t start = tu_now_ns();
        tu_assert_rc(shmc_set(c, name, klen, value, len, 0), 0);
        log_set(log, key, PARENT_WRITER, key, len, start, tu_now_ns());
    }
}

static void assert_no_violation(const struct verdict *v)
{
    if (verdict_total(v))
        fail_msg("inconsistent history: %zu torn, %zu unknown, %zu wrong "
                 "key, %zu from the future, %zu stale, %zu lost writes, %zu "
                 "misses on stable keys",
                 v->torn, v->unknown, v->wrong_key, v->future, v->stale,
                 v->lost, v->stable_miss);
}

/* Without this the test could pass on a run that exercised nothing. */
static void assert_run_exercised(const struct history *h)
{
    static const char *const kind_names[OP_KINDS] = {"hit", "miss", "set",
                                                     "delete"};
    size_t count[OP_KINDS] = {0};
    for (int w = 0; w < WORKERS; w++) {
        if (h->logs[w].count == 0)
            fail_msg("worker %d logged no call", w);
        for (size_t i = 0; i < h->logs[w].count; i++)
            count[h->logs[w].ops[i].kind]++;
    }
    print_message("%zu hits, %zu misses, %zu sets, %zu deletes\n",
                  count[OP_GET_HIT], count[OP_GET_MISS], count[OP_SET],
                  count[OP_DEL]);
    for (int k = 0; k < OP_KINDS; k++)
        if (count[k] == 0)
            fail_msg("not one %s in the whole run", kind_names[k]);
}

/* The whole run, with reads through a per-thread L1 of l1_entries (0:
 * none) in every worker. */
static void run_random_ops(const struct tu_dir *d, unsigned l1_entries)
{
    /* A reader descheduled inside its read pins every page the writers
     * free meanwhile: with 8 processes on 2 cores, 0.4 MB of live entries
     * was seen to take up to 57 MB of map. */
    shmc_opts opts = {.map_size = 256u << 20, .l1_entries = l1_entries};
    struct run run = {
        .c = tu_open(d, &opts),
        .h = history_share(),
        .duration_ns = tu_under_valgrind() ? 1000000000ull : 3000000000ull,
    };
    prepopulate_stable_keys(run.c, &run.h->logs[PARENT_WRITER]);
    tu_run_children(WORKERS, worker, &run, CHILD_TIMEOUT_S);
    assert_run_exercised(run.h);
    struct verdict v = check_history(run.h, stderr);
    assert_no_violation(&v);
    shmc_stats stats;
    tu_assert_rc(shmc_stats_get(run.c, &stats), 0);
    print_message("%llu reads served by an L1\n",
                  (unsigned long long)stats.l1_hits);
    /* With the L1 on, a run none of whose reads it served checked nothing
     * of it. */
    if (l1_entries)
        assert_true(stats.l1_hits > 0);
    else
        assert_int_equal(stats.l1_hits, 0);
    history_unshare(run.h);
    shmc_close(run.c);
}

static void test_random_ops_stay_consistent(void **state)
{
    run_random_ops(*state, 0);
}

/* About as many entries as keys: direct-mapped, many keys share an entry,
 * so the workers' L1s both serve hits and evict. */
static void test_random_ops_stay_consistent_with_l1(void **state)
{
    run_random_ops(*state, 1024);
}

/* ---- the checker on planted histories ---------------------------------- */

#define PLANTED_OPS 16
#define PLANTED_LEN 100

struct planted {
    struct history h;
    struct op ops[WRITERS][PLANTED_OPS];
    uint32_t next_seq[WRITERS];
};

static void planted_init(struct planted *p)
{
    memset(p, 0, sizeof *p);
    for (int w = 0; w < WRITERS; w++)
        p->h.logs[w].ops = p->ops[w];
}

static struct op *plant(struct planted *p, int w, enum op_kind kind,
                        unsigned key, uint64_t start, uint64_t end)
{
    assert_true(p->h.logs[w].count < PLANTED_OPS);
    struct op *o = &p->h.logs[w].ops[p->h.logs[w].count++];
    *o = (struct op){.start_ns = start, .end_ns = end, .key = (uint16_t)key,
                     .kind = (uint8_t)kind};
    return o;
}

/* Returns the seq of the value written. */
static uint32_t plant_set(struct planted *p, int w, unsigned key,
                          uint64_t start, uint64_t end)
{
    struct op *o = plant(p, w, OP_SET, key, start, end);
    o->writer = (uint8_t)w;
    o->seq = p->next_seq[w]++;
    o->len = PLANTED_LEN;
    return o->seq;
}

static struct op *plant_hit(struct planted *p, int reader, unsigned key,
                            uint64_t start, uint64_t end, int writer,
                            uint32_t seq)
{
    struct op *o = plant(p, reader, OP_GET_HIT, key, start, end);
    o->writer = (uint8_t)writer;
    o->seq = seq;
    o->len = PLANTED_LEN;
    o->intact = 1;
    return o;
}

/* The legal interleavings that a checker too eager would reject. */
static void plant_consistent(struct planted *p)
{
    const unsigned key = STABLE_KEYS + 1, gone = STABLE_KEYS + 2;
    /* Overlapping sets may be ordered either way: either value is fine. */
    uint32_t a = plant_set(p, 0, key, 10, 20);
    uint32_t b = plant_set(p, 1, key, 15, 25);
    plant_hit(p, 2, key, 30, 40, 0, a);
    plant_hit(p, 3, key, 30, 40, 1, b);
    /* A read overlapping a delete may see the value or not. */
    uint32_t c = plant_set(p, 0, gone, 10, 20);
    plant(p, 1, OP_DEL, gone, 30, 40);
    plant_hit(p, 2, gone, 35, 45, 0, c);
    plant(p, 3, OP_GET_MISS, gone, 35, 45);
    /* A read overlapping its set may already see it. */
    uint32_t d = plant_set(p, 0, 0, 50, 60);
    plant_hit(p, 2, 0, 55, 58, 0, d);
    /* A key never written misses. */
    plant(p, 2, OP_GET_MISS, STABLE_KEYS + 3, 10, 20);
}

static void test_checker_accepts_consistent_history(void **state)
{
    (void)state;
    struct planted *p = malloc(sizeof *p);
    assert_non_null(p);
    planted_init(p);
    plant_consistent(p);
    struct verdict v = check_history(&p->h, stderr);
    assert_no_violation(&v);
    free(p);
}

static void test_checker_reports_planted_faults(void **state)
{
    (void)state;
    const unsigned key = STABLE_KEYS + 1, other = STABLE_KEYS + 4,
                   kept = STABLE_KEYS + 5;
    struct planted *p = malloc(sizeof *p);
    assert_non_null(p);
    planted_init(p);
    plant_consistent(p);
    uint32_t old = plant_set(p, 4, key, 100, 110);
    plant_set(p, 5, key, 120, 130);
    plant_hit(p, 6, key, 140, 150, 4, old);
    /* Deleted after its set, before the read. */
    uint32_t deleted = plant_set(p, 4, other, 100, 110);
    plant(p, 5, OP_DEL, other, 120, 130);
    plant_hit(p, 6, other, 140, 150, 4, deleted);
    plant_hit(p, 7, key, 140, 150, 4, old)->intact = 0;
    plant_hit(p, 7, key, 160, 170, 5, 0)->len = PLANTED_LEN - 1;
    plant_hit(p, 7, key, 160, 170, 6, 99);
    plant_hit(p, 7, other, 160, 170, 5, 0);
    plant_hit(p, 6, key, 90, 95, 4, old);
    plant_set(p, 4, kept, 100, 110);
    plant(p, 6, OP_GET_MISS, kept, 120, 130);
    plant(p, 6, OP_GET_MISS, 1, 120, 130);

    struct verdict v = check_history(&p->h, NULL);
    assert_int_equal(v.stale, 2);
    assert_int_equal(v.torn, 2);
    assert_int_equal(v.unknown, 1);
    assert_int_equal(v.wrong_key, 1);
    assert_int_equal(v.future, 1);
    assert_int_equal(v.lost, 1);
    assert_int_equal(v.stable_miss, 1);
    free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_checker_accepts_consistent_history),
        cmocka_unit_test(test_checker_reports_planted_faults),
        tu_test_in_dir(test_random_ops_stay_consistent),
        tu_test_in_dir(test_random_ops_stay_consistent_with_l1),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
