/* test_bridge.c - the Redis bridge of shmcached, end to end: a real
 * redis-server on a free loopback port (persistence off), two "hosts" (two
 * instances, each with its own daemon and host id, both named "cache" so
 * that they share the stream shmcache:revocations:cache), real kill -9 of
 * Redis. Skipped (exit 77) when redis-server is not installed. */
#include "testutil.h"

#include <arpa/inet.h>
#include <errno.h>
#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bridge_msg.h"
#include "procrun.h"

#define READY_TIMEOUT_MS 15000u
#define APPLY_TIMEOUT_MS 60000u
#define STOP_TIMEOUT_MS 10000u
#define STREAM "shmcache:revocations:cache"
#define SECRET_HEX "00112233445566778899aabbccddeeff" \
                   "ffeeddccbbaa99887766554433221100"

static char redis_binary[256];

struct host {
    char path[320], log[320], id[16];
    pid_t daemon;
    shmc_cache *c;
};

struct bench {
    struct tu_dir dir;
    int port;
    pid_t redis;
    char redis_log[320], secret[320];
    struct host a, b;
};

static const char *daemon_binary(void)
{
    static char path[512];
    const char *top = getenv("top_builddir");
    snprintf(path, sizeof path, "%s/daemon/shmcached", top ? top : ".");
    return path;
}

static int free_port(void)
{
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    close(fd);
    return ntohs(a.sin_port);
}

/* A connection to the test's Redis, or NULL while it does not answer. */
static redisContext *redis_connect(const struct bench *t)
{
    struct timeval tv = {1, 0};
    redisContext *r = redisConnectWithTimeout("127.0.0.1", t->port, tv);
    if (!r || r->err) {
        if (r)
            redisFree(r);
        return NULL;
    }
    return r;
}

static void redis_start(struct bench *t, const char *extra_name,
                        const char *extra_value)
{
    char port[16];
    snprintf(port, sizeof port, "%d", t->port);
    char *argv[] = {redis_binary, "--port", port, "--bind", "127.0.0.1",
                    "--save", "", "--appendonly", "no",
                    (char *)extra_name, (char *)extra_value, NULL};
    t->redis = pr_spawn(t->redis_log, argv);
    uint64_t start = tu_now_ns();
    for (;;) {
        redisContext *r = redis_connect(t);
        redisReply *rep = r ? redisCommand(r, "PING") : NULL;
        int up = rep != NULL; /* PONG, or NOAUTH: it answers */
        if (rep)
            freeReplyObject(rep);
        if (r)
            redisFree(r);
        if (up)
            return;
        if (tu_ms_since(start) > READY_TIMEOUT_MS) {
            pr_show(t->redis_log);
            fail_msg("redis-server did not answer on port %d", t->port);
        }
        tu_sleep_ms(20);
    }
}

static void redis_kill(struct bench *t)
{
    kill(t->redis, SIGKILL);
    waitpid(t->redis, NULL, 0);
    t->redis = 0;
}

/* Start h's daemon with the bridge URL and the extra arguments (NULL-
 * terminated, at most 6). */
static void daemon_start(struct bench *t, struct host *h, const char *url,
                         const char *const *extra)
{
    char *argv[20] = {(char *)daemon_binary(), "--path", h->path,
                      "--redis", (char *)url, "--bridge-secret-file",
                      t->secret, "--host-id", h->id, "--tick-ms", "50"};
    int n = 11;
    for (int i = 0; extra && extra[i]; i++)
        argv[n++] = (char *)extra[i];
    h->daemon = pr_spawn(h->log, argv);
}

static void await_log(const struct host *h, const char *text, unsigned count)
{
    uint64_t start = tu_now_ns();
    for (;;) {
        char *log = pr_read_text(h->log);
        unsigned n = 0;
        for (const char *at = log; (at = strstr(at, text)); at++)
            n++;
        free(log);
        if (n >= count)
            return;
        if (tu_ms_since(start) > READY_TIMEOUT_MS) {
            pr_show(h->log);
            fail_msg("%s's daemon did not log '%s' %u times", h->id, text,
                     count);
        }
        tu_sleep_ms(10);
    }
}

/* Wait until both bridge threads of h have connected count times. */
static void await_connected(const struct host *h, unsigned count)
{
    await_log(h, "bridge sender: connected", count);
    await_log(h, "bridge receiver: connected", count);
}

static void daemon_stop(struct host *h)
{
    if (h->daemon <= 0)
        return;
    kill(h->daemon, SIGTERM);
    int status = pr_wait_exit(h->daemon, STOP_TIMEOUT_MS);
    h->daemon = 0;
    if (status != 0) {
        pr_show(h->log);
        fail_msg("%s's daemon exited with %d", h->id, status);
    }
}

static void url_of(const struct bench *t, char *out, size_t size)
{
    snprintf(out, size, "redis://127.0.0.1:%d", t->port);
}

static void host_make(struct bench *t, struct host *h, const char *id)
{
    char dir[300];
    snprintf(h->id, sizeof h->id, "%s", id);
    snprintf(dir, sizeof dir, "%s/%s", t->dir.root, id);
    assert_int_equal(mkdir(dir, 0700), 0);
    snprintf(h->path, sizeof h->path, "%s/cache", dir);
    snprintf(h->log, sizeof h->log, "%s/%s.log", t->dir.root, id);
    shmc_opts o = {.map_size = 64u << 20};
    int rc = shmc_open(&h->c, h->path, &o);
    if (rc)
        fail_msg("%s: %s", h->path, shmc_last_error());
}

static int setup(void **state)
{
    struct bench *t = calloc(1, sizeof *t);
    assert_non_null(t);
    tu_dir_make(&t->dir);
    t->port = free_port();
    snprintf(t->redis_log, sizeof t->redis_log, "%s/redis.log", t->dir.root);
    snprintf(t->secret, sizeof t->secret, "%s/bridge.key", t->dir.root);
    FILE *f = fopen(t->secret, "w");
    assert_non_null(f);
    fchmod(fileno(f), 0600);
    fputs(SECRET_HEX "\n", f);
    fclose(f);
    host_make(t, &t->a, "host-a");
    host_make(t, &t->b, "host-b");
    *state = t;
    return 0;
}

static int teardown(void **state)
{
    struct bench *t = *state;
    struct host *hosts[] = {&t->a, &t->b};
    for (int i = 0; i < 2; i++) {
        if (hosts[i]->daemon > 0) {
            kill(hosts[i]->daemon, SIGKILL);
            waitpid(hosts[i]->daemon, NULL, 0);
        }
        shmc_close(hosts[i]->c);
    }
    if (t->redis > 0)
        redis_kill(t);
    tu_dir_remove(&t->dir);
    free(t);
    return 0;
}

/* Both hosts bridged to a running Redis. */
static void start_both(struct bench *t)
{
    char url[64];
    url_of(t, url, sizeof url);
    redis_start(t, NULL, NULL);
    daemon_start(t, &t->a, url, NULL);
    daemon_start(t, &t->b, url, NULL);
    await_connected(&t->a, 1);
    await_connected(&t->b, 1);
}

static uint64_t stat_of(shmc_cache *c, size_t offset)
{
    shmc_stats s = tu_stats(c);
    uint64_t v;
    memcpy(&v, (const char *)&s + offset, sizeof v);
    return v;
}
#define STAT(c, field) stat_of((c), offsetof(shmc_stats, field))

/* Wait until a counter of h reaches want. */
static void await_stat(const struct host *h, size_t offset, uint64_t want,
                       const char *what)
{
    uint64_t start = tu_now_ns(), v;
    while ((v = stat_of(h->c, offset)) < want) {
        if (tu_ms_since(start) > APPLY_TIMEOUT_MS) {
            pr_show(h->log);
            fail_msg("%s: %s is %llu, waited for %llu", h->id, what,
                     (unsigned long long)v, (unsigned long long)want);
        }
        tu_sleep_ms(5);
    }
}
#define AWAIT_STAT(h, field, want)                                          \
    await_stat((h), offsetof(shmc_stats, field), (want), #field)

static void key_of(char *out, size_t size, const char *prefix, unsigned i)
{
    snprintf(out, size, "%s%06u", prefix, i);
}

/* ---- the tests --------------------------------------------------------- */

static void test_revocation_prefix_and_flush_travel(void **state)
{
    struct bench *t = *state;
    start_both(t);
    tu_set(t->b.c, "apikey:ak_alice", "alice");
    tu_set(t->b.c, "user:1:a", "x");
    tu_set(t->b.c, "user:1:b", "x");
    tu_set(t->b.c, "user:2:a", "x");
    /* A worker of B has the key in its per-thread cache. */
    tu_assert_value(t->b.c, "apikey:ak_alice", "alice");
    tu_assert_value(t->b.c, "apikey:ak_alice", "alice");

    tu_assert_rc(shmc_revoke(t->a.c, "apikey:ak_alice", 15), SHMC_ENOTFOUND);
    AWAIT_STAT(&t->b, bridge_applied, 1);
    tu_assert_value(t->b.c, "apikey:ak_alice", NULL);

    tu_assert_rc(shmc_revoke_prefix(t->a.c, "user:1:", 7, NULL), 0);
    AWAIT_STAT(&t->b, bridge_applied, 2);
    tu_assert_value(t->b.c, "user:1:a", NULL);
    tu_assert_value(t->b.c, "user:1:b", NULL);
    tu_assert_value(t->b.c, "user:2:a", "x");

    tu_assert_rc(shmc_revoke_all(t->a.c), 0);
    AWAIT_STAT(&t->b, bridge_applied, 3);
    assert_int_equal(tu_info(t->b.c).entries, 0);

    AWAIT_STAT(&t->a, bridge_skipped_own, 3);
    assert_int_equal(STAT(t->a.c, bridge_sent), 3);
    assert_int_equal(tu_info(t->a.c).outbox_pending, 0);
    assert_int_equal(STAT(t->b.c, bridge_rejected_signature), 0);
    assert_int_equal(STAT(t->b.c, bridge_rejected_parse), 0);
    assert_int_equal(STAT(t->b.c, bridge_gap_flushes), 0);
    daemon_stop(&t->a);
    daemon_stop(&t->b);
}

struct revoker {
    shmc_cache *c;
    unsigned n;
};

static int revoke_all_keys(void *arg, int index)
{
    (void)index;
    const struct revoker *r = arg;
    char key[32];
    for (unsigned i = 0; i < r->n; i++) {
        key_of(key, sizeof key, "k", i);
        int rc = shmc_revoke(r->c, key, strlen(key));
        if (rc != 0 && rc != SHMC_ENOTFOUND)
            return 1;
        if (i % 64 == 0)
            tu_sleep_ms(1); /* spread over the restarts */
    }
    return 0;
}

static void test_nothing_lost_while_redis_restarts(void **state)
{
    struct bench *t = *state;
    const unsigned n = tu_scaled(10000);
    char key[32];
    start_both(t);
    for (unsigned i = 0; i < n; i++) {
        key_of(key, sizeof key, "k", i);
        tu_set(t->b.c, key, "v");
    }
    struct revoker r = {t->a.c, n};
    pid_t child = tu_spawn(revoke_all_keys, &r);
    for (int restart = 0; restart < 3; restart++) {
        tu_sleep_ms(150);
        redis_kill(t);
        tu_sleep_ms(300);
        redis_start(t, NULL, NULL);
    }
    assert_int_equal(tu_wait_child(child, 120), 0);
    AWAIT_STAT(&t->b, bridge_applied, n);
    for (unsigned i = 0; i < n; i++) {
        key_of(key, sizeof key, "k", i);
        if (tu_check_value(t->b.c, key, NULL) != 0)
            fail_msg("%s is still on host B", key);
    }
    shmc_stats s = tu_stats(t->b.c);
    fprintf(stderr,
            "%u revocations, Redis killed 3 times: A sent %llu, B received "
            "%llu, applied %llu, duplicates %llu, gap flushes %llu\n",
            n, (unsigned long long)STAT(t->a.c, bridge_sent),
            (unsigned long long)s.bridge_received,
            (unsigned long long)s.bridge_applied,
            (unsigned long long)s.bridge_duplicates,
            (unsigned long long)s.bridge_gap_flushes);
    /* Applied one by one, each once: none lost, none flushed away. */
    assert_int_equal(s.bridge_applied, n);
    assert_int_equal(s.bridge_gap_flushes, 0);
    uint64_t start = tu_now_ns();
    while (tu_info(t->a.c).outbox_pending != 0)
        if (tu_ms_since(start) > APPLY_TIMEOUT_MS)
            fail_msg("A's outbox did not drain");
        else
            tu_sleep_ms(10);
    daemon_stop(&t->a);
    daemon_stop(&t->b);
}

static void test_trimmed_stream_flushes(void **state)
{
    struct bench *t = *state;
    char url[64], key[32];
    url_of(t, url, sizeof url);
    start_both(t);
    tu_assert_rc(shmc_revoke(t->a.c, "first", 5), SHMC_ENOTFOUND);
    AWAIT_STAT(&t->b, bridge_applied, 1);
    daemon_stop(&t->b);
    daemon_stop(&t->a);
    const char *short_stream[] = {"--stream-maxlen", "100", NULL};
    daemon_start(t, &t->a, url, short_stream);
    await_connected(&t->a, 2);
    for (unsigned i = 0; i < 1000; i++) {
        key_of(key, sizeof key, "t", i);
        tu_assert_rc(shmc_revoke(t->a.c, key, strlen(key)), SHMC_ENOTFOUND);
    }
    uint64_t start = tu_now_ns();
    while (tu_info(t->a.c).outbox_pending != 0)
        if (tu_ms_since(start) > APPLY_TIMEOUT_MS)
            fail_msg("A's outbox did not drain");
        else
            tu_sleep_ms(10);
    redisContext *r = redis_connect(t);
    assert_non_null(r);
    redisReply *len = redisCommand(r, "XLEN %s", STREAM);
    assert_true(len && len->type == REDIS_REPLY_INTEGER && len->integer < 1000);
    freeReplyObject(len);
    redisFree(r);
    tu_set(t->b.c, "set-while-away", "x");
    daemon_start(t, &t->b, url, NULL);
    AWAIT_STAT(&t->b, bridge_gap_flushes, 1);
    tu_assert_value(t->b.c, "set-while-away", NULL);
    await_log(&t->b, "trimmed past this host's cursor", 1);
    daemon_stop(&t->a);
    daemon_stop(&t->b);
}

static void test_forged_and_garbage_messages_dropped(void **state)
{
    struct bench *t = *state;
    start_both(t);
    tu_set(t->b.c, "victim", "v");
    static unsigned char buf[BRIDGE_MSG_MAX_LEN];
    static const unsigned char wrong[] = "not the secret of this bridge!!";
    struct bridge_msg m = {.kind = BRIDGE_KIND_KEY, .origin = "host-x",
                           .origin_len = 6, .incarnation = 1, .seq = 1,
                           .time_ms = shmc_now_ms(),
                           .key = (const unsigned char *)"victim",
                           .key_len = 6};
    size_t n = bridge_msg_encode(&m, wrong, sizeof wrong - 1, buf, sizeof buf);
    assert_true(n > 0);
    redisContext *r = redis_connect(t);
    assert_non_null(r);
    redisReply *rep = redisCommand(r, "XADD %s * m %b", STREAM, buf, n);
    assert_true(rep && rep->type == REDIS_REPLY_STRING);
    freeReplyObject(rep);
    rep = redisCommand(r, "XADD %s * m garbage", STREAM);
    assert_true(rep && rep->type == REDIS_REPLY_STRING);
    freeReplyObject(rep);
    rep = redisCommand(r, "XADD %s * foo bar", STREAM);
    assert_true(rep && rep->type == REDIS_REPLY_STRING);
    freeReplyObject(rep);
    redisFree(r);
    /* A marker after them: once B applied it, it has read them. */
    tu_assert_rc(shmc_revoke(t->a.c, "marker", 6), SHMC_ENOTFOUND);
    AWAIT_STAT(&t->b, bridge_applied, 1);
    assert_int_equal(STAT(t->b.c, bridge_rejected_signature), 1);
    assert_int_equal(STAT(t->b.c, bridge_rejected_parse), 2);
    assert_int_equal(STAT(t->b.c, bridge_applied), 1);
    tu_assert_value(t->b.c, "victim", "v");
    assert_true(pr_file_has(t->b.log, "signature does not match"));
    assert_true(pr_file_has(t->b.log, "not a revocation message"));
    daemon_stop(&t->a);
    daemon_stop(&t->b);
}

static void test_redis_away_at_start(void **state)
{
    struct bench *t = *state;
    char url[64];
    url_of(t, url, sizeof url);
    daemon_start(t, &t->a, url, NULL);
    await_log(&t->a, "unreachable", 2);
    for (int i = 0; i < 5; i++)
        tu_assert_rc(shmc_revoke(t->a.c, "k", 1), SHMC_ENOTFOUND);
    tu_sleep_ms(2500); /* several retries */
    char *log = pr_read_text(t->a.log);
    unsigned lines = 0;
    for (const char *at = log; (at = strstr(at, "unreachable")); at++)
        lines++;
    free(log);
    if (lines != 2) {
        pr_show(t->a.log);
        fail_msg("%u 'unreachable' lines: once per thread was expected",
                 lines);
    }
    assert_true(tu_stats(t->a.c).last_sweep_ms > 0);
    assert_int_equal(tu_info(t->a.c).outbox_pending, 5);
    redis_start(t, NULL, NULL);
    daemon_start(t, &t->b, url, NULL);
    await_connected(&t->a, 1);
    AWAIT_STAT(&t->b, bridge_applied, 5);
    assert_int_equal(tu_info(t->a.c).outbox_pending, 0);
    daemon_stop(&t->a);
    daemon_stop(&t->b);
}

static void test_full_outbox_asks_for_a_flush(void **state)
{
    struct bench *t = *state;
    char url[64], key[32];
    url_of(t, url, sizeof url);
    const char *small[] = {"--outbox-max", "10", NULL};
    daemon_start(t, &t->a, url, small);
    await_log(&t->a, "unreachable", 2);
    for (unsigned i = 0; i < 15; i++) {
        key_of(key, sizeof key, "o", i);
        tu_assert_rc(shmc_revoke(t->a.c, key, strlen(key)), SHMC_ENOTFOUND);
    }
    assert_int_equal(STAT(t->a.c, outbox_overflows), 5);
    assert_int_equal(tu_info(t->a.c).outbox_pending, 11);
    tu_set(t->b.c, "never-revoked", "x");
    redis_start(t, NULL, NULL);
    daemon_start(t, &t->b, url, NULL);
    await_connected(&t->b, 1);
    AWAIT_STAT(&t->b, bridge_applied, 11);
    tu_assert_value(t->b.c, "never-revoked", NULL);
    daemon_stop(&t->a);
    daemon_stop(&t->b);
}

static void test_bad_url_and_missing_secret_go_on(void **state)
{
    struct bench *t = *state;
    daemon_start(t, &t->a, "bogus://x", NULL);
    await_log(&t->a, "the Redis URL is not usable", 1);
    uint64_t start = tu_now_ns();
    while (tu_stats(t->a.c).last_sweep_ms == 0)
        if (tu_ms_since(start) > READY_TIMEOUT_MS)
            fail_msg("no sweep without a bridge");
        else
            tu_sleep_ms(10);
    daemon_stop(&t->a);
    snprintf(t->secret, sizeof t->secret, "%s/missing.key", t->dir.root);
    daemon_start(t, &t->a, "redis://127.0.0.1:1", NULL);
    await_log(&t->a, "missing.key", 1);
    daemon_stop(&t->a);
}

static void test_auth(void **state)
{
    struct bench *t = *state;
    char url[96];
    redis_start(t, "--requirepass", "pw");
    snprintf(url, sizeof url, "redis://:wrong@127.0.0.1:%d", t->port);
    daemon_start(t, &t->a, url, NULL);
    await_log(&t->a, "WRONGPASS", 1);
    daemon_stop(&t->a);
    snprintf(url, sizeof url, "redis://:pw@127.0.0.1:%d/3", t->port);
    daemon_start(t, &t->a, url, NULL);
    daemon_start(t, &t->b, url, NULL);
    await_connected(&t->a, 1);
    await_connected(&t->b, 1);
    tu_set(t->b.c, "k", "v");
    tu_assert_rc(shmc_revoke(t->a.c, "k", 1), SHMC_ENOTFOUND);
    AWAIT_STAT(&t->b, bridge_applied, 1);
    tu_assert_value(t->b.c, "k", NULL);
    daemon_stop(&t->a);
    daemon_stop(&t->b);
}

static int find_redis(void)
{
    static const char *const dirs[] = {"/usr/bin", "/usr/sbin",
                                       "/usr/local/bin"};
    const char *path = getenv("PATH");
    char buf[4096];
    snprintf(buf, sizeof buf, "%s", path ? path : "");
    for (char *dir = strtok(buf, ":"); dir; dir = strtok(NULL, ":")) {
        snprintf(redis_binary, sizeof redis_binary, "%s/redis-server", dir);
        if (access(redis_binary, X_OK) == 0)
            return 1;
    }
    for (size_t i = 0; i < sizeof dirs / sizeof dirs[0]; i++) {
        snprintf(redis_binary, sizeof redis_binary, "%s/redis-server",
                 dirs[i]);
        if (access(redis_binary, X_OK) == 0)
            return 1;
    }
    return 0;
}

#define bridge_test(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
    if (!find_redis()) {
        printf("redis-server not installed: the bridge tests are skipped "
               "(apt-get install redis-server)\n");
        return 77;
    }
    const struct CMUnitTest tests[] = {
        bridge_test(test_revocation_prefix_and_flush_travel),
        bridge_test(test_nothing_lost_while_redis_restarts),
        bridge_test(test_trimmed_stream_flushes),
        bridge_test(test_forged_and_garbage_messages_dropped),
        bridge_test(test_redis_away_at_start),
        bridge_test(test_full_outbox_asks_for_a_flush),
        bridge_test(test_bad_url_and_missing_secret_go_on),
        bridge_test(test_auth),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
