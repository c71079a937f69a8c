/* prefork-server.c - a pre-fork HTTP/1.1 server on a loopback port, using
 * shmcache the way the applications it is made for do (demo_routes.h).
 *
 * The master opens the instance and the listening socket, forks --workers
 * workers that all accept on it (the kernel hands each connection to one),
 * replaces a worker that dies, and on SIGTERM or SIGINT stops them and
 * exits. Each worker serves one connection at a time, with keep-alive.
 * It works with or without shmcached, and with or without a Redis bridge
 * (run shmcached --redis on the instance: revocations then reach the
 * other hosts). */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "demo_routes.h"
#include "http_request.h"

#define MAX_WORKERS 64u
#define READ_BUF (HTTP_MAX_HEAD + HTTP_MAX_BODY)
#define IDLE_TIMEOUT_S 5

/* For the demo only: keys are stored under HMAC with this secret unless
 * --key-secret-file gives one. A real deployment reads its own. */
static const char demo_key_secret[] = "prefork-server demo key secret";

static volatile sig_atomic_t stopping;

static void on_stop(int sig)
{
    (void)sig;
    stopping = 1;
}

static void usage(FILE *out)
{
    fprintf(out,
            "usage: prefork-server [--port N] [--workers N] [--path DIR] "
            "[--store DIR]\n"
            "                      [--key-secret-file F] [--compute-ms N]\n"
            "  --port N      loopback port (default 8080; 0: any free one)\n"
            "  --workers N   worker processes (default 4)\n"
            "  --path DIR    the shmcache instance (default "
            "/dev/shm/shmcache/prefork-demo)\n"
            "  --store DIR   the simulated key store (default "
            "/tmp/prefork-demo-store)\n"
            "  --key-secret-file F  key secret (default: a built-in demo "
            "one)\n"
            "  --compute-ms N  time a report takes to compute (default "
            "300)\n"
            "  --no-cache    compute every answer (a benchmark's baseline)\n");
}

static int write_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static int send_response(int fd, const struct response *res, int keep_alive,
                         int head_only)
{
    char head[RESPONSE_MAX_HEADERS + 256];
    int n = snprintf(head, sizeof head,
                     "HTTP/1.1 %d %s\r\n%.*sContent-Length: %zu\r\n%s\r\n",
                     res->status, demo_reason(res->status),
                     (int)res->headers_len, res->headers,
                     res->status == 304 ? 0 : res->body_len,
                     keep_alive ? "" : "Connection: close\r\n");
    if (n < 0 || (size_t)n >= sizeof head)
        return -1;
    if (write_all(fd, head, (size_t)n))
        return -1;
    if (head_only || res->status == 304 || !res->body_len)
        return 0;
    return write_all(fd, res->body, res->body_len);
}

/* After refusing a request: stop writing, and read what the client still
 * sends for a moment before closing, so that the kernel does not answer it
 * with a reset that would destroy the response on its way. */
static void close_gently(int fd)
{
    static char sink[4096];
    struct timeval brief = {0, 200000};
    shutdown(fd, SHUT_WR);
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &brief, sizeof brief);
    for (int i = 0; i < 16 && read(fd, sink, sizeof sink) > 0; i++)
        ;
}

static void serve_connection(const struct demo *d, int fd)
{
    static char buf[READ_BUF];
    size_t have = 0;
    int keep_alive = 1;
    while (keep_alive && !stopping) {
        struct http_request req;
        long taken = http_request_parse(buf, have, &req);
        if (taken == HTTP_PARSE_MORE) {
            ssize_t n = read(fd, buf + have, sizeof buf - have);
            if (n <= 0)
                return;
            have += (size_t)n;
            continue;
        }
        struct response res = {0};
        if (taken < 0) {
            res.status = taken == HTTP_PARSE_TOO_LARGE ? 431 : 400;
            keep_alive = 0;
        } else {
            demo_route(d, &req, &res);
            keep_alive = req.keep_alive;
        }
        int failed = send_response(fd, &res, keep_alive,
                                   taken > 0 && http_span_is(req.method,
                                                             "HEAD"));
        free(res.body);
        if (!failed && taken < 0)
            close_gently(fd);
        if (failed || taken < 0)
            return;
        memmove(buf, buf + taken, have - (size_t)taken);
        have -= (size_t)taken;
    }
}

static void worker(const struct demo *d, int listener)
{
    struct sigaction sa = {.sa_handler = on_stop};
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGINT, SIG_IGN); /* the master stops us */
    while (!stopping) {
        int fd = accept4(listener, NULL, NULL, SOCK_CLOEXEC);
        if (fd < 0)
            continue;
        int one = 1;
        struct timeval idle = {IDLE_TIMEOUT_S, 0};
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &idle, sizeof idle);
        serve_connection(d, fd);
        close(fd);
    }
    _exit(0);
}

static int listen_on(unsigned port, unsigned *bound)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) ||
        bind(fd, (struct sockaddr *)&a, sizeof a) || listen(fd, 512) ||
        getsockname(fd, (struct sockaddr *)&a, &len)) {
        perror("prefork-server: listen");
        return -1;
    }
    *bound = ntohs(a.sin_port);
    return fd;
}

static pid_t spawn(const struct demo *d, int listener)
{
    pid_t pid = fork();
    if (pid == 0)
        worker(d, listener);
    return pid;
}

int main(int argc, char **argv)
{
    unsigned port = 8080, workers = 4, compute_ms = 300;
    int no_cache = 0;
    const char *path = "/dev/shm/shmcache/prefork-demo";
    const char *store = "/tmp/prefork-demo-store", *secret_file = NULL;
    static const struct option opts[] = {
        {"port", required_argument, 0, 'p'},
        {"workers", required_argument, 0, 'w'},
        {"path", required_argument, 0, 'P'},
        {"store", required_argument, 0, 's'},
        {"key-secret-file", required_argument, 0, 'k'},
        {"compute-ms", required_argument, 0, 'c'},
        {"no-cache", no_argument, 0, 'n'},
        {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0},
    };
    int opt;
    char *end;
    while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        unsigned long v = optarg ? strtoul(optarg, &end, 10) : 0;
        int number_ok = optarg && *optarg && !*end;
        if (opt == 'p' && number_ok && v <= 65535)
            port = (unsigned)v;
        else if (opt == 'w' && number_ok && v >= 1 && v <= MAX_WORKERS)
            workers = (unsigned)v;
        else if (opt == 'c' && number_ok && v <= 60000)
            compute_ms = (unsigned)v;
        else if (opt == 'P')
            path = optarg;
        else if (opt == 's')
            store = optarg;
        else if (opt == 'k')
            secret_file = optarg;
        else if (opt == 'n')
            no_cache = 1;
        else {
            usage(opt == 'h' ? stdout : stderr);
            return opt == 'h' ? 0 : 2;
        }
    }
    unsigned char secret[SHMC_VALUE_KEY_LEN];
    shmc_opts o = {.key_secret = demo_key_secret,
                   .key_secret_len = sizeof demo_key_secret - 1,
                   .l1_entries = 256};
    if (secret_file) {
        int rc = shmc_key_file_read(secret_file, secret);
        if (rc) {
            fprintf(stderr, "prefork-server: %s: %s\n", secret_file,
                    shmc_last_error());
            return 1;
        }
        o.key_secret = secret;
        o.key_secret_len = sizeof secret;
    }
    char revoked[4096];
    snprintf(revoked, sizeof revoked, "%s/revoked", store);
    if ((mkdir(store, 0700) && errno != EEXIST) ||
        (mkdir(revoked, 0700) && errno != EEXIST)) {
        fprintf(stderr, "prefork-server: %s: %s\n", revoked, strerror(errno));
        return 1;
    }
    shmc_cache *cache;
    int rc = shmc_open(&cache, path, &o);
    if (rc) {
        fprintf(stderr, "prefork-server: %s: %s\n", path, shmc_last_error());
        return 1;
    }
    const struct demo d = {cache, path, store, compute_ms, no_cache};
    unsigned bound;
    int listener = listen_on(port, &bound);
    if (listener < 0)
        return 1;
    struct sigaction sa = {.sa_handler = on_stop};
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    pid_t pids[MAX_WORKERS];
    for (unsigned i = 0; i < workers; i++)
        pids[i] = spawn(&d, listener);
    printf("prefork-server: listening on 127.0.0.1:%u, %u workers, "
           "instance %s\n",
           bound, workers, path);
    fflush(stdout);
    while (!stopping) {
        int status;
        pid_t dead = wait(&status);
        for (unsigned i = 0; dead > 0 && !stopping && i < workers; i++)
            if (pids[i] == dead) {
                fprintf(stderr, "prefork-server: worker %ld died; "
                                "starting another\n",
                        (long)dead);
                pids[i] = spawn(&d, listener);
            }
    }
    for (unsigned i = 0; i < workers; i++)
        kill(pids[i], SIGTERM);
    while (wait(NULL) > 0 || errno == EINTR)
        ;
    close(listener);
    shmc_close(cache);
    return 0;
}
