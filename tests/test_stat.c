/* test_stat.c - shmcache-stat run as a real process on instances the test
 * fills: its JSON parsed by a strict parser and its Prometheus text checked
 * line by line, both against the counts of what the test did; the table
 * and --watch (frames, rates, a clean stop on SIGINT and SIGTERM); and
 * stat beside worker processes that hammer the cache, which must neither
 * slow it past a second nor see an error because of it. */
#include "testutil.h"

#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "jsoncheck.h"
#include "toolrun.h"

#define RUN_TIMEOUT_MS 20000u
#define LOAD_WORKERS 8
#define LOAD_KEYS 500
#define LOAD_WRITE_GAP_NS 2000000u
/* LMDB reuses a page freed by a write only once every reader older than
 * that write has finished, and eight busy processes on a couple of cores
 * often leave a reader descheduled in the middle of a get for tens of ms:
 * the writes of that moment take new pages. Writes are therefore paced
 * (reads are not), and the map is sized for that churn, as shmc_opts
 * tells users to do. */
#define LOAD_MAP_SIZE (128u << 20)
/* A stat that waited for a worker (a lock) would wait as long as the
 * workers run: this catches that, not slowness, which the shared and busy
 * machines tests run on (sanitizers, 9 processes on 2 CPUs) make
 * unpredictable. */
#define STAT_DEADLINE_MS 10000u
#define LOAD_MAX_MS 60000u

/* The members of shmc_info and shmc_stats, as the JSON keys must name
 * them: written out here rather than taken from the tool, so that a field
 * the tool leaves out fails the test. */
static const char *const info_fields[] = {
    "layout_version", "map_size",     "map_used",     "map_touched",
    "page_size",      "entries",      "max_readers",  "readers_used",
    "readers_dead",   "lock_slots",   "locks_held",   "recency_slots",
    "outbox_max",     "outbox_pending",
};
static const char *const stats_fields[] = {
    "hits",          "stale_hits",      "misses",       "expired",
    "sets",          "deletes",         "l1_hits",      "locks",
    "lock_waits",    "lock_timeouts",   "lock_recoveries", "computes",
    "compute_errors", "stale_served",   "revocations",  "evictions",
    "expired_removed", "sweeps",        "sweep_passes", "readers_reclaimed",
    "last_sweep_ms",   "decrypt_failures", "outbox_overflows",
    "bridge_sent",     "bridge_received", "bridge_applied",
    "bridge_skipped_own", "bridge_duplicates", "bridge_rejected_signature",
    "bridge_rejected_parse", "bridge_rejected_keyspace",
    "bridge_gap_flushes", "bridge_newest_ms", "bridge_lag_ms",
};
/* The members of shmc_stats that are not counters. */
static int is_counter(const char *field)
{
    return strcmp(field, "last_sweep_ms") != 0 &&
           strcmp(field, "bridge_newest_ms") != 0 &&
           strcmp(field, "bridge_lag_ms") != 0;
}

#define COUNT_OF(a) (sizeof(a) / sizeof((a)[0]))

/* Run shmcache-stat on the instance of d with args; it must exit 0 with
 * nothing on stderr. */
static void stat_ok(const struct tu_dir *d, const char *args,
                    struct tr_result *r)
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "'%s' --path '%s' %s",
             tr_tool("tools/shmcache-stat"), d->inst, args);
    tr_run(d->root, cmd, RUN_TIMEOUT_MS, r);
    if (r->exit_status != 0 || r->err_len != 0)
        fail_msg("%s: exit %d, signal %d, stderr: %s", cmd, r->exit_status,
                 r->signal, r->err);
}

/* Three entries stored, two of them read, one key missed. */
static void do_known_work(shmc_cache *c)
{
    tu_set(c, "k1", "one");
    tu_set(c, "k2", "two");
    tu_set(c, "k3", "three");
    tu_assert_value(c, "k1", "one");
    tu_assert_value(c, "k2", "two");
    tu_assert_value(c, "nope", NULL);
}

/* ---- the JSON checker itself ------------------------------------------ */

static void test_json_checker_is_strict(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "",           "[1]",          "{\"a\":1,}",     "{\"a\":01}",
        "{\"a\":1}{", "{'a':1}",      "{\"a\":1 \"b\":2}", "{\"a\":nul}",
        "{\"a\":\"\\x\"}", "{\"a\":-}", "{\"a\":1.}",    "{\"a\":\"t\tb\"}",
        "{\"a\":1,\"a\":2}", "{\"a\":[1,]}", "{\"a\":NaN}", "{\"a\":1",
        "{a:1}",      "{\"a\":+1}",   "{\"a\":.5}",     "{\"a\":\"x}",
    };
    struct jc_object o;
    char err[256];
    for (size_t i = 0; i < COUNT_OF(bad); i++)
        if (jc_parse_object(bad[i], strlen(bad[i]), &o, err, sizeof err) ==
            0)
            fail_msg("accepted bad JSON: %s", bad[i]);

    const char *good = " {\"a\":-1.5e3,\"b\":[1,{\"c\":null},true],"
                       "\"d\":\"x\\n\\u0041\",\"e\":0,\"f\":false}\n";
    if (jc_parse_object(good, strlen(good), &o, err, sizeof err))
        fail_msg("rejected good JSON: %s", err);
    assert_int_equal(o.count, 5);
    assert_string_equal(jc_member(&o, "a")->text, "-1.5e3");
    assert_int_equal(jc_member(&o, "b")->type, JC_ARRAY);
    assert_string_equal(jc_member(&o, "d")->text, "x\nA");
    assert_int_equal(jc_member(&o, "f")->type, JC_BOOL);
    assert_null(jc_member(&o, "c"));
}

/* ---- --json ------------------------------------------------------------- */

static void parse_json(const struct tr_result *r, struct jc_object *o)
{
    char err[256];
    if (jc_parse_object(r->out, r->out_len, o, err, sizeof err))
        fail_msg("not one JSON object (%s): %s", err, r->out);
    if (r->out_len == 0 || r->out[r->out_len - 1] != '\n' ||
        memchr(r->out, '\n', r->out_len) != r->out + r->out_len - 1)
        fail_msg("not one line: %s", r->out);
}

static const struct jc_member *member_of_type(const struct jc_object *o,
                                              const char *name,
                                              enum jc_type type)
{
    const struct jc_member *m = jc_member(o, name);
    if (!m)
        fail_msg("no member '%s'", name);
    if (m->type != type)
        fail_msg("member '%s' has type %d, not %d", name, m->type, type);
    return m;
}

static unsigned long long json_uint(const struct jc_object *o,
                                    const char *name)
{
    const struct jc_member *m = member_of_type(o, name, JC_NUMBER);
    char *end;
    unsigned long long v = strtoull(m->text, &end, 10);
    if (*end || m->text[0] == '-')
        fail_msg("member '%s' is %s, not a whole number", name, m->text);
    return v;
}

static double json_double(const struct jc_object *o, const char *name)
{
    return strtod(member_of_type(o, name, JC_NUMBER)->text, NULL);
}

static void stat_json(const struct tu_dir *d, struct jc_object *o)
{
    struct tr_result r;
    stat_ok(d, "--json", &r);
    parse_json(&r, o);
    tr_free(&r);
}

static void test_json_counts_what_was_done(void **state)
{
    struct tu_cache *tc = *state;
    struct jc_object o;

    stat_json(&tc->dir, &o);
    assert_int_equal(member_of_type(&o, "hit_ratio", JC_NULL)->type, JC_NULL);
    assert_int_equal(member_of_type(&o, "l1_share", JC_NULL)->type, JC_NULL);

    do_known_work(tc->c);
    stat_json(&tc->dir, &o);
    for (size_t i = 0; i < COUNT_OF(info_fields); i++)
        json_uint(&o, info_fields[i]);
    for (size_t i = 0; i < COUNT_OF(stats_fields); i++)
        json_uint(&o, stats_fields[i]);
    assert_string_equal(member_of_type(&o, "path", JC_STRING)->text,
                        tc->dir.inst);
    assert_int_equal(json_uint(&o, "sets"), 3);
    assert_int_equal(json_uint(&o, "hits"), 2);
    assert_int_equal(json_uint(&o, "misses"), 1);
    assert_int_equal(json_uint(&o, "entries"), 3);
    assert_int_equal(json_uint(&o, "map_size"), TU_MAP_SIZE);
    assert_int_equal(json_uint(&o, "max_readers"), SHMC_DEFAULT_MAX_READERS);
    assert_int_equal(json_uint(&o, "lock_slots"), SHMC_DEFAULT_LOCK_SLOTS);
    assert_int_equal(json_uint(&o, "recency_slots"),
                     SHMC_DEFAULT_RECENCY_SLOTS);
    assert_true(json_uint(&o, "readers_used") >= 1);
    assert_true(json_uint(&o, "map_used") <= TU_MAP_SIZE);
    assert_true(json_uint(&o, "time_ms") > 0);
    double ratio = json_double(&o, "hit_ratio");
    assert_true(ratio > 0.666 && ratio < 0.667);
    assert_true(json_double(&o, "l1_share") == 0);
    assert_int_equal(json_uint(&o, "last_sweep_ms"), 0);
    member_of_type(&o, "last_sweep_age_ms", JC_NULL);

    tu_assert_rc(shmc_sweep(tc->c, NULL, NULL), 0);
    stat_json(&tc->dir, &o);
    assert_int_equal(json_uint(&o, "sweeps"), 1);
    assert_true(json_uint(&o, "last_sweep_ms") > 0);
    assert_true(json_uint(&o, "last_sweep_age_ms") < 60000);
}

/* ---- --prometheus ------------------------------------------------------- */

struct metric {
    char name[96];
    int has_help, has_type, is_counter, sampled;
    double value;
};

struct exposition {
    struct metric m[64];
    size_t count;
};

static struct metric *metric_named(struct exposition *e, const char *name,
                                   size_t len)
{
    for (size_t i = 0; i < e->count; i++)
        if (strlen(e->m[i].name) == len &&
            memcmp(e->m[i].name, name, len) == 0)
            return &e->m[i];
    return NULL;
}

/* The name at the start of s ([a-z0-9_]+ after "shmcache_", as Prometheus
 * allows and the tool promises): its length, or fails the test. */
static size_t metric_name_length(const char *s, const char *line)
{
    if (strncmp(s, "shmcache_", 9) != 0)
        fail_msg("metric not named shmcache_*: %s", line);
    size_t n = 9 + strspn(s + 9, "abcdefghijklmnopqrstuvwxyz0123456789_");
    if (n == 9)
        fail_msg("empty metric name: %s", line);
    return n;
}

static void check_comment(struct exposition *e, const char *line)
{
    int help = strncmp(line, "# HELP ", 7) == 0;
    if (!help && strncmp(line, "# TYPE ", 7) != 0)
        fail_msg("comment that is neither HELP nor TYPE: %s", line);
    const char *name = line + 7;
    size_t n = metric_name_length(name, line);
    if (name[n] != ' ' || name[n + 1] == '\0')
        fail_msg("HELP or TYPE without text: %s", line);
    struct metric *m = metric_named(e, name, n);
    if (help) {
        if (m)
            fail_msg("second HELP: %s", line);
        if (e->count == COUNT_OF(e->m))
            fail_msg("more metrics than the test expects");
        m = &e->m[e->count++];
        memset(m, 0, sizeof *m);
        snprintf(m->name, sizeof m->name, "%.*s", (int)n, name);
        m->has_help = 1;
        return;
    }
    if (!m || m->has_type)
        fail_msg("TYPE not right after its HELP: %s", line);
    const char *type = name + n + 1;
    if (strcmp(type, "counter") != 0 && strcmp(type, "gauge") != 0)
        fail_msg("TYPE neither counter nor gauge: %s", line);
    m->has_type = 1;
    m->is_counter = strcmp(type, "counter") == 0;
    size_t len = strlen(m->name);
    int total = len > 6 && strcmp(m->name + len - 6, "_total") == 0;
    if (total != m->is_counter)
        fail_msg("a counter must end in _total, and only a counter: %s",
                 line);
}

static void check_sample(struct exposition *e, const char *line,
                         const char *path)
{
    size_t n = metric_name_length(line, line);
    struct metric *m = metric_named(e, line, n);
    if (!m || !m->has_type)
        fail_msg("sample before its HELP and TYPE: %s", line);
    if (m->sampled)
        fail_msg("second sample: %s", line);
    char labels[512];
    snprintf(labels, sizeof labels, "{instance=\"%s\"} ", path);
    if (strncmp(line + n, labels, strlen(labels)) != 0)
        fail_msg("labels are not %s: %s", labels, line);
    const char *value = line + n + strlen(labels);
    char *end;
    errno = 0;
    m->value = strtod(value, &end);
    if (errno || end == value || *end || m->value < 0)
        fail_msg("value not a number: %s", line);
    m->sampled = 1;
}

static void parse_exposition(char *text, const char *path,
                             struct exposition *e)
{
    e->count = 0;
    size_t len = strlen(text);
    if (len == 0 || text[len - 1] != '\n')
        fail_msg("does not end with a newline: %s", text);
    for (char *line = text, *nl; (nl = strchr(line, '\n')); line = nl + 1) {
        *nl = '\0';
        if (line[0] == '#')
            check_comment(e, line);
        else
            check_sample(e, line, path);
    }
    for (size_t i = 0; i < e->count; i++)
        if (!e->m[i].sampled)
            fail_msg("no sample of %s", e->m[i].name);
}

static double sample(struct exposition *e, const char *name)
{
    struct metric *m = metric_named(e, name, strlen(name));
    if (!m)
        fail_msg("no metric %s", name);
    return m->value;
}

static void test_prometheus_counts_what_was_done(void **state)
{
    struct tu_cache *tc = *state;
    struct tr_result r;
    struct exposition e;

    do_known_work(tc->c);
    stat_ok(&tc->dir, "--prometheus", &r);
    parse_exposition(r.out, tc->dir.inst, &e);
    tr_free(&r);

    /* Every counter of shmc_stats, as name_total. */
    for (size_t i = 0; i < COUNT_OF(stats_fields); i++) {
        char name[96];
        if (!is_counter(stats_fields[i]))
            continue;
        snprintf(name, sizeof name, "shmcache_%s_total", stats_fields[i]);
        sample(&e, name);
    }
    assert_int_equal(e.count, COUNT_OF(info_fields) + COUNT_OF(stats_fields));
    assert_true(sample(&e, "shmcache_sets_total") == 3);
    assert_true(sample(&e, "shmcache_hits_total") == 2);
    assert_true(sample(&e, "shmcache_misses_total") == 1);
    assert_true(sample(&e, "shmcache_entries") == 3);
    assert_true(sample(&e, "shmcache_map_size_bytes") == TU_MAP_SIZE);
    assert_true(sample(&e, "shmcache_last_sweep_timestamp_seconds") == 0);

    tu_assert_rc(shmc_sweep(tc->c, NULL, NULL), 0);
    stat_ok(&tc->dir, "--prometheus", &r);
    parse_exposition(r.out, tc->dir.inst, &e);
    tr_free(&r);
    double swept = sample(&e, "shmcache_last_sweep_timestamp_seconds");
    double now = (double)shmc_now_ms() / 1000;
    assert_true(swept > now - 60 && swept <= now);
    assert_true(sample(&e, "shmcache_sweeps_total") == 1);
}

/* ---- the table and --watch ---------------------------------------------- */

/* Fail unless text has a line that starts with start. */
static void assert_line(const char *text, const char *start)
{
    size_t n = strlen(start);
    for (const char *line = text; *line;) {
        if (strncmp(line, start, n) == 0)
            return;
        const char *nl = strchr(line, '\n');
        if (!nl)
            break;
        line = nl + 1;
    }
    fail_msg("no line starting with '%s' in:\n%s", start, text);
}

static void test_table_shows_every_field(void **state)
{
    struct tu_cache *tc = *state;
    struct tr_result r;
    char line[400];

    do_known_work(tc->c);
    stat_ok(&tc->dir, "", &r);
    snprintf(line, sizeof line, "instance        %s", tc->dir.inst);
    assert_line(r.out, line);
    assert_line(r.out, "entries         3\n");
    assert_line(r.out, "hit ratio       66.67%");
    assert_line(r.out, "last sweep      never");
    assert_line(r.out, "readers         ");
    assert_line(r.out, "locks           0 held of 4096 slots");
    for (size_t i = 0; i < COUNT_OF(stats_fields); i++) {
        if (!is_counter(stats_fields[i]))
            continue;
        snprintf(line, sizeof line, "%s ", stats_fields[i]);
        assert_line(r.out, line);
    }
    assert_line(r.out, "sets                                    3\n");
    tr_free(&r);
}

/* How many times needle occurs in text. */
static int occurrences(const char *text, const char *needle)
{
    int n = 0;
    for (const char *p = text; (p = strstr(p, needle)); p += strlen(needle))
        n++;
    return n;
}

/* The line after the first "\nstart" in text, from its start; the
 * result is NUL-terminated in buf. Fails the test if there is none. */
static const char *line_after(const char *text, const char *start,
                              char *buf, size_t size)
{
    char needle[64];
    snprintf(needle, sizeof needle, "\n%s", start);
    const char *p = strstr(text, needle);
    if (!p)
        fail_msg("no line starting with '%s' in:\n%s", start, text);
    p++;
    snprintf(buf, size, "%.*s", (int)strcspn(p, "\n"), p);
    return p;
}

/* The last word of the line in buf. */
static const char *last_word(const char *line)
{
    const char *space = strrchr(line, ' ');
    return space ? space + 1 : line;
}

static void test_watch_draws_frames_with_rates(void **state)
{
    struct tu_cache *tc = *state;
    struct tr_result r;
    char line[256];

    do_known_work(tc->c);
    stat_ok(&tc->dir, "--watch 0.2 --count 3", &r);
    assert_int_equal(occurrences(r.out, "\ncounter "), 3);
    assert_null(strchr(r.out, '\033')); /* no screen control into a file */
    assert_true(r.elapsed_ms >= 400);

    /* The first frame has no rate yet; the next ones have. */
    const char *frame = line_after(r.out, "hits ", line, sizeof line);
    assert_string_equal(last_word(line), "-");
    for (int i = 2; i <= 3; i++) {
        frame = line_after(frame, "hits ", line, sizeof line);
        char *end;
        const char *rate = last_word(line);
        double v = strtod(rate, &end);
        if (end == rate || *end || v < 0)
            fail_msg("frame %d: no rate in '%s'", i, line);
    }
    tr_free(&r);
}

/* Wait up to 10 s for the first frame of ch's output. */
static void await_first_frame(const struct tr_child *ch)
{
    for (int i = 0; i < 1000; i++) {
        FILE *f = fopen(ch->out_path, "r");
        char buf[4096] = "";
        size_t n = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
        if (f)
            fclose(f);
        buf[n] = '\0';
        if (strstr(buf, "readers_reclaimed"))
            return;
        tu_sleep_ms(10);
    }
    fail_msg("no frame within 10 s");
}

static void stops_cleanly_on(struct tu_cache *tc, int sig)
{
    char cmd[1024];
    struct tr_child ch;
    struct tr_result r;
    snprintf(cmd, sizeof cmd, "'%s' --path '%s' --watch 0.2",
             tr_tool("tools/shmcache-stat"), tc->dir.inst);
    tr_start(&ch, tc->dir.root, cmd);
    await_first_frame(&ch);
    assert_int_equal(kill(ch.pid, sig), 0);
    tr_finish(&ch, 5000, &r);
    if (r.exit_status != 0 || r.err_len)
        fail_msg("after signal %d: exit %d, signal %d, stderr: %s", sig,
                 r.exit_status, r.signal, r.err);
    /* The last frame is whole: the tool did not die in the middle. */
    assert_true(r.out_len > 0 && r.out[r.out_len - 1] == '\n');
    r.out[r.out_len - 1] = '\0';
    const char *last = strrchr(r.out, '\n');
    assert_non_null(last);
    assert_true(strncmp(last + 1, "bridge_gap_flushes ", 19) == 0);
    tr_free(&r);
}

static void test_watch_stops_on_sigint_and_sigterm(void **state)
{
    stops_cleanly_on(*state, SIGINT);
    stops_cleanly_on(*state, SIGTERM);
}

/* ---- under load --------------------------------------------------------- */

struct load {
    const char *inst;
    atomic_int stop;
    atomic_int next_index; /* each worker takes one */
    atomic_ulong ops[LOAD_WORKERS];
};

/* A worker: reads as fast as it can over a small key space, with a set or
 * a delete every LOAD_WRITE_GAP_NS, until told to stop, or at the latest
 * after LOAD_MAX_MS should the test have failed before telling it; any
 * answer but success or "not found" fails it. */
static int hammer(void *arg, int unused)
{
    struct load *load = arg;
    int index = atomic_fetch_add(&load->next_index, 1);
    (void)unused;
    /* The second that stat is given is for waiting on nothing a worker
     * holds, not for its share of two cores among eight spinning workers
     * (and the libtool wrapper's shell): the workers yield the CPU to it,
     * but not any lock. */
    errno = 0;
    if (nice(10) == -1 && errno) {
        fprintf(stderr, "worker %d: nice: %s\n", index, strerror(errno));
        return 1;
    }
    shmc_opts opts = {.map_size = LOAD_MAP_SIZE};
    shmc_cache *c;
    int rc = shmc_open(&c, load->inst, &opts);
    if (rc) {
        fprintf(stderr, "worker %d: open: %s\n", index, shmc_strerror(rc));
        return 1;
    }
    char key[32], val[64], buf[64];
    memset(val, 'v', sizeof val);
    unsigned seed = (unsigned)index * 7919u + 1;
    uint64_t start = tu_now_ns(), next_write = start;
    unsigned long writes = 0;
    for (unsigned long i = 0; !atomic_load(&load->stop); i++) {
        uint64_t now = tu_now_ns();
        if (now - start > (uint64_t)LOAD_MAX_MS * 1000000u)
            break;
        seed = seed * 1103515245u + 12345u;
        snprintf(key, sizeof key, "load-%u", (seed >> 8) % LOAD_KEYS);
        size_t len = sizeof buf;
        if (now < next_write) {
            rc = shmc_get(c, key, strlen(key), buf, &len, NULL, 0);
        } else {
            next_write = now + LOAD_WRITE_GAP_NS;
            rc = writes++ % 2 ? shmc_del(c, key, strlen(key))
                              : shmc_set(c, key, strlen(key), val,
                                         sizeof val, 0);
        }
        if (rc != 0 && rc != SHMC_ENOTFOUND) {
            fprintf(stderr, "worker %d: %s: %s\n", index,
                    shmc_err_name(rc), shmc_last_error());
            shmc_close(c);
            return 1;
        }
        atomic_store(&load->ops[index], i + 1);
    }
    shmc_close(c);
    return 0;
}

static unsigned long total_ops(struct load *load, int workers)
{
    unsigned long n = 0;
    for (int i = 0; i < workers; i++)
        n += atomic_load(&load->ops[i]);
    return n;
}

/* How many workers have done something. */
static int started(struct load *load, int workers)
{
    int n = 0;
    for (int i = 0; i < workers; i++)
        n += atomic_load(&load->ops[i]) > 0;
    return n;
}

/* Tell the workers to stop and reap them: non-zero if any failed. */
static int stop_workers(struct load *load, const pid_t *pids, int workers)
{
    int failed = 0;
    atomic_store(&load->stop, 1);
    for (int i = 0; i < workers; i++)
        failed |= tu_wait_child(pids[i], 30);
    return failed;
}

static void test_stat_beside_busy_workers(void **state)
{
    const struct tu_dir *d = *state;
    shmc_opts opts = {.map_size = LOAD_MAP_SIZE};
    shmc_close(tu_open(d, &opts));
    int workers = (int)tu_scaled(LOAD_WORKERS);
    struct load *load = tu_shared(sizeof *load);
    load->inst = d->inst;
    pid_t pids[LOAD_WORKERS];
    for (int i = 0; i < workers; i++)
        pids[i] = tu_spawn(hammer, load);
    for (int spin = 0; started(load, workers) < workers; spin++) {
        if (spin == 10000) {
            stop_workers(load, pids, workers);
            fail_msg("the workers did not all start within 10 s");
        }
        tu_sleep_ms(1);
    }

    unsigned long long last_sets = 0, slowest_ms = 0;
    unsigned rounds = tu_scaled(10);
    for (unsigned i = 0; i < rounds; i++) {
        struct tr_result r;
        struct jc_object o;
        unsigned long before = total_ops(load, workers);
        stat_ok(d, i % 2 ? "--prometheus" : "--json", &r);
        if (r.elapsed_ms >= STAT_DEADLINE_MS)
            fail_msg("stat took %llu ms beside %d workers",
                     (unsigned long long)r.elapsed_ms, workers);
        if (r.elapsed_ms > slowest_ms)
            slowest_ms = r.elapsed_ms;
        if (i % 2 == 0) {
            parse_json(&r, &o);
            unsigned long long sets = json_uint(&o, "sets");
            assert_true(sets >= last_sets);
            last_sets = sets;
        }
        tr_free(&r);
        /* The workers went on while stat ran. */
        for (int spin = 0; total_ops(load, workers) == before; spin++) {
            if (spin == 5000) {
                stop_workers(load, pids, workers);
                fail_msg("the workers made no progress in 5 s");
            }
            tu_sleep_ms(1);
        }
    }
    assert_true(last_sets > 0);
    print_message("slowest of %u stat runs beside %d workers: %llu ms\n",
                  rounds, workers, slowest_ms);

    int failed = stop_workers(load, pids, workers);
    tu_unshare(load, sizeof *load);
    assert_int_equal(failed, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_json_checker_is_strict),
        tu_test_with_cache(test_json_counts_what_was_done),
        tu_test_with_cache(test_prometheus_counts_what_was_done),
        tu_test_with_cache(test_table_shows_every_field),
        tu_test_with_cache(test_watch_draws_frames_with_rates),
        tu_test_with_cache(test_watch_stops_on_sigint_and_sigterm),
        tu_test_in_dir(test_stat_beside_busy_workers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
