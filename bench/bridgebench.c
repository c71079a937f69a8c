/* bridgebench.c - shmcache-bridgebench: how fast a revocation crosses
 * hosts through the Redis bridge, and how fast a backlog drains.
 *
 * Two "hosts" on this machine: two instances, each with its own shmcached
 * bridged to one redis-server on loopback (started here, persistence off).
 *  1. Latency: --count keys are stored on B; each is revoked on A, and the
 *     time until B's own get misses is recorded (B is polled without
 *     pause). Reported: p50, p99, p999, max.
 *  2. Drain: Redis is killed, --backlog revocations are made on A (they
 *     wait in its outbox), Redis is started again on the same port, and
 *     the time until A's outbox is empty and until B has applied them all
 *     gives the rates.
 * The daemon is ./daemon/shmcached of the build tree unless --daemon says
 * otherwise. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"
#include "hist.h"
#include "keys.h"
#include "servers.h"
#include "shmcache.h"

#define READY_TIMEOUT_NS (20ull * 1000000000)
#define DRAIN_TIMEOUT_NS (300ull * 1000000000)

struct host {
    char path[256], log[256];
    pid_t daemon;
    shmc_cache *cache;
};

struct params {
    unsigned count, backlog;
    const char *daemon;
};

static void usage(FILE *out)
{
    fprintf(out,
            "usage: shmcache-bridgebench [--count N] [--backlog N] "
            "[--daemon PATH]\n"
            "  --count N     revocations timed one by one (default 10000)\n"
            "  --backlog N   revocations made while Redis is down (default "
            "20000)\n"
            "  --daemon PATH shmcached to run (default ./daemon/shmcached)\n");
}

static void die(const char *what)
{
    fprintf(stderr, "shmcache-bridgebench: %s\n", what);
    exit(1);
}

static void die_shmc(const char *what, int rc)
{
    fprintf(stderr, "shmcache-bridgebench: %s: %s: %s\n", what,
            shmc_strerror(rc), shmc_last_error());
    exit(1);
}

static void start_daemon(struct host *h, const struct params *p,
                         const char *url, const char *secret, const char *id)
{
    fflush(NULL);
    h->daemon = fork();
    if (h->daemon < 0)
        die("fork failed");
    if (h->daemon == 0) {
        int fd = open(h->log, O_WRONLY | O_CREAT | O_APPEND, 0600);
        if (fd >= 0)
            dup2(fd, STDERR_FILENO);
        execl(p->daemon, "shmcached", "--path", h->path, "--redis", url,
              "--bridge-secret-file", secret, "--host-id", id,
              "--outbox-max", "1000000", (char *)NULL);
        fprintf(stderr, "exec %s: %s\n", p->daemon, strerror(errno));
        _exit(127);
    }
}

/* How many times text is in the file at path. */
static unsigned count_in_file(const char *path, const char *text)
{
    char buf[1 << 16];
    FILE *f = fopen(path, "r");
    unsigned n = 0;
    if (!f)
        return 0;
    size_t len = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[len] = '\0';
    for (const char *at = buf; (at = strstr(at, text)) != NULL; at++)
        n++;
    return n;
}

/* Wait until both threads of h's bridge have connected `times` times. */
static void await_connected(const struct host *h, unsigned times)
{
    uint64_t deadline = bench_now_ns() + READY_TIMEOUT_NS;
    while (count_in_file(h->log, "bridge receiver: connected") < times ||
           count_in_file(h->log, "bridge sender: connected") < times) {
        if (bench_now_ns() > deadline) {
            fprintf(stderr, "shmcache-bridgebench: %s's daemon did not "
                            "connect; its log is %s\n",
                    h->path, h->log);
            exit(1);
        }
        usleep(10000);
    }
}

static void set_keys(shmc_cache *c, unsigned from, unsigned n)
{
    char key[32];
    for (unsigned i = from; i < from + n; i++) {
        size_t klen = format_key(key, i);
        int rc = shmc_set(c, key, klen, "v", 1, 0);
        if (rc)
            die_shmc("set", rc);
    }
}

static void latency(struct host *a, struct host *b, unsigned n)
{
    struct hist h;
    char key[32], buf[8];
    hist_init(&h);
    set_keys(b->cache, 0, n);
    for (unsigned i = 0; i < n; i++) {
        size_t klen = format_key(key, i), len;
        uint64_t t0 = bench_now_ns();
        int rc = shmc_revoke(a->cache, key, klen);
        if (rc != 0 && rc != SHMC_ENOTFOUND)
            die_shmc("revoke", rc);
        while ((len = sizeof buf,
                shmc_get(b->cache, key, klen, buf, &len, NULL, 0)) == 0) {
            if (bench_now_ns() - t0 > READY_TIMEOUT_NS)
                die("a revocation did not reach the other host in 20 s");
            sched_yield();
        }
        hist_record(&h, bench_now_ns() - t0);
    }
    printf("cross-host revocation (revoke on A -> miss on B), %u "
           "revocations:\n  p50 %.3f ms, p99 %.3f ms, p999 %.3f ms, max "
           "%.3f ms\n",
           n, hist_percentile(&h, 50) / 1e6, hist_percentile(&h, 99) / 1e6,
           hist_percentile(&h, 99.9) / 1e6, (double)h.max / 1e6);
}

static uint64_t pending(shmc_cache *c)
{
    shmc_info info;
    int rc = shmc_info_get(c, &info);
    if (rc)
        die_shmc("info", rc);
    return info.outbox_pending;
}

static uint64_t applied(shmc_cache *c)
{
    shmc_stats st;
    int rc = shmc_stats_get(c, &st);
    if (rc)
        die_shmc("stats", rc);
    return st.bridge_applied;
}

static void drain(struct host *a, struct host *b, struct bench_server *redis,
                  unsigned n)
{
    char key[32];
    kill(redis->pid, SIGKILL);
    waitpid(redis->pid, NULL, 0);
    redis->pid = 0;
    uint64_t base = applied(b->cache);
    uint64_t t0 = bench_now_ns();
    for (unsigned i = 0; i < n; i++) {
        size_t klen = format_key(key, 1000000 + i);
        int rc = shmc_revoke(a->cache, key, klen);
        if (rc != 0 && rc != SHMC_ENOTFOUND)
            die_shmc("revoke", rc);
    }
    double made = (double)(bench_now_ns() - t0) / 1e9;
    printf("backlog: %u revocations made with Redis down in %.3f s (%.0f/s), "
           "%llu pending in A's outbox\n",
           n, made, n / made, (unsigned long long)pending(a->cache));
    if (server_restart_redis(redis) != BENCH_OK)
        die("redis-server did not start again");
    uint64_t up = bench_now_ns(), sent_at = 0, applied_at = 0;
    while (!sent_at || !applied_at) {
        uint64_t now = bench_now_ns();
        if (now - up > DRAIN_TIMEOUT_NS)
            die("the backlog did not drain in 300 s");
        if (!sent_at && pending(a->cache) == 0)
            sent_at = now;
        if (!applied_at && applied(b->cache) - base >= n)
            applied_at = now;
        usleep(1000);
    }
    double sent = (double)(sent_at - up) / 1e9;
    double got = (double)(applied_at - up) / 1e9;
    printf("drain after Redis came back (reconnect included): A's outbox "
           "empty in %.3f s (%.0f/s), B applied all in %.3f s (%.0f/s)\n",
           sent, n / sent, got, n / got);
}

static void stop_daemon(struct host *h)
{
    if (h->daemon > 0) {
        kill(h->daemon, SIGTERM);
        waitpid(h->daemon, NULL, 0);
    }
}

static void open_host(struct host *h, const char *root, const char *name)
{
    char dir[200];
    snprintf(dir, sizeof dir, "%s/%s", root, name);
    if (mkdir(dir, 0700) != 0)
        die("cannot make a host directory");
    snprintf(h->path, sizeof h->path, "%s/cache", dir);
    snprintf(h->log, sizeof h->log, "%s/%s.log", root, name);
    int rc = shmc_open(&h->cache, h->path, NULL);
    if (rc)
        die_shmc(h->path, rc);
}

int main(int argc, char **argv)
{
    struct params p = {.count = 10000, .backlog = 20000,
                       .daemon = "./daemon/shmcached"};
    static const struct option opts[] = {
        {"count", required_argument, 0, 'c'},
        {"backlog", required_argument, 0, 'b'},
        {"daemon", required_argument, 0, 'd'},
        {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0},
    };
    int opt;
    while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        if (opt == 'c' && (p.count = (unsigned)strtoul(optarg, NULL, 10)) > 0)
            continue;
        if (opt == 'b' &&
            (p.backlog = (unsigned)strtoul(optarg, NULL, 10)) > 0)
            continue;
        if (opt == 'd') {
            p.daemon = optarg;
            continue;
        }
        usage(opt == 'h' ? stdout : stderr);
        return opt == 'h' ? 0 : 2;
    }
    if (access(p.daemon, X_OK) != 0) {
        fprintf(stderr, "shmcache-bridgebench: %s: not found (build it, or "
                        "give --daemon)\n",
                p.daemon);
        return 1;
    }
    struct bench_server redis = {0};
    if (server_start_redis(&redis) != BENCH_OK) {
        fprintf(stderr, "shmcache-bridgebench: no redis-server: %s\n",
                bench_error());
        return 1;
    }
    char root[128], secret[160], url[64];
    if (bench_scratch_dir("/dev/shm", root, sizeof root) != BENCH_OK)
        die("no scratch directory");
    snprintf(secret, sizeof secret, "%s/secret", root);
    FILE *f = fopen(secret, "w");
    if (!f || fchmod(fileno(f), 0600) != 0 ||
        fputs("00112233445566778899aabbccddeeff"
              "00112233445566778899aabbccddeeff\n",
              f) < 0 ||
        fclose(f) != 0)
        die("cannot write the secret file");
    snprintf(url, sizeof url, "redis://127.0.0.1:%d", redis.port);
    struct host a = {0}, b = {0};
    open_host(&a, root, "a");
    open_host(&b, root, "b");
    start_daemon(&a, &p, url, secret, "host-a");
    start_daemon(&b, &p, url, secret, "host-b");
    await_connected(&a, 1);
    await_connected(&b, 1);
    latency(&a, &b, p.count);
    drain(&a, &b, &redis, p.backlog);
    stop_daemon(&a);
    stop_daemon(&b);
    shmc_close(a.cache);
    shmc_close(b.cache);
    server_stop(&redis);
    bench_remove_tree(root);
    return 0;
}
