/* servers.c - see servers.h. */
#include "servers.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

/* The free port found by binding port 0 can be taken by someone else
 * before the server binds it: that start fails fast and is retried on a
 * new port. */
#define START_ATTEMPTS 3
#define READY_TIMEOUT_MS 10000
#define POLL_MS 10

static void sleep_ms(unsigned ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static int in_path(const char *exe)
{
    const char *path = getenv("PATH");
    if (!path || !*path)
        path = "/usr/local/bin:/usr/bin:/bin";
    while (*path) {
        size_t n = strcspn(path, ":");
        char candidate[4096];
        int len = snprintf(candidate, sizeof candidate, "%.*s/%s", (int)n,
                           n ? path : ".", exe);
        if (len > 0 && (size_t)len < sizeof candidate &&
            access(candidate, X_OK) == 0)
            return 1;
        path += n + (path[n] == ':');
    }
    return 0;
}

/* Say once per process that a server is missing: both Redis backends
 * would otherwise repeat it. */
static int missing(const char *exe, const char *what, int *said)
{
    if (!*said)
        fprintf(stderr, "%s not installed: skipping %s\n", exe, what);
    *said = 1;
    return BENCH_SKIP;
}

static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return bench_fail("socket: %m");
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t alen = sizeof a;
    int port = BENCH_ERR;
    if (bind(fd, (struct sockaddr *)&a, sizeof a) != 0)
        bench_fail("bind 127.0.0.1:0: %m");
    else if (getsockname(fd, (struct sockaddr *)&a, &alen) != 0)
        bench_fail("getsockname: %m");
    else
        port = ntohs(a.sin_port);
    close(fd);
    return port;
}

int bench_tcp_connect(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return bench_fail("socket: %m");
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        bench_fail("connect 127.0.0.1:%d: %m", port);
        close(fd);
        return BENCH_ERR;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

/* True once the server replies to probe with something starting with
 * expect. */
static int answers(int port, const char *probe, const char *expect)
{
    int fd = bench_tcp_connect(port);
    if (fd < 0)
        return 0;
    struct timeval tv = {1, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    char reply[64];
    size_t want = strlen(expect), got = 0;
    if (write(fd, probe, strlen(probe)) == (ssize_t)strlen(probe)) {
        while (got < want) {
            ssize_t n = read(fd, reply + got, want - got);
            if (n <= 0)
                break;
            got += (size_t)n;
        }
    }
    close(fd);
    return got == want && memcmp(reply, expect, want) == 0;
}

/* SIGKILL, not SIGTERM: the servers run without persistence and keep
 * nothing worth a clean exit, and both act on SIGTERM only at their next
 * timer tick (Redis within 100 ms, memcached up to a second later), time
 * that every cell of the matrix would spend waiting. */
static void kill_and_reap(struct bench_server *srv)
{
    if (srv->pid <= 0)
        return;
    kill(srv->pid, SIGKILL);
    waitpid(srv->pid, NULL, 0);
    srv->pid = 0;
}

static void exec_server(char *const argv[])
{
    /* A benchmark killed mid-run must not leave its server behind. */
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    int devnull = open("/dev/null", O_RDWR);
    if (devnull >= 0) {
        /* Banners and logs go to stdout; stderr stays for failures. */
        dup2(devnull, STDIN_FILENO);
        dup2(devnull, STDOUT_FILENO);
    }
    execvp(argv[0], argv);
    fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
    _exit(127);
}

/* Fork/exec argv and wait until it answers probe with expect. */
static int spawn(struct bench_server *srv, char *const argv[],
                 const char *probe, const char *expect)
{
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0)
        return bench_fail("fork: %m");
    if (pid == 0)
        exec_server(argv);
    srv->pid = pid;
    for (unsigned waited = 0; waited < READY_TIMEOUT_MS; waited += POLL_MS) {
        int status;
        if (waitpid(pid, &status, WNOHANG) == pid) {
            srv->pid = 0;
            return bench_fail("%s exited before answering (status 0x%x)",
                              argv[0], (unsigned)status);
        }
        if (answers(srv->port, probe, expect))
            return BENCH_OK;
        sleep_ms(POLL_MS);
    }
    kill_and_reap(srv);
    return bench_fail("%s did not answer within %d ms", argv[0],
                      READY_TIMEOUT_MS);
}

/* Start the server of argv, whose entry argv[port_arg] is filled with a
 * free port, and wait until it answers. Another process may take the port
 * between free_port() and the server's bind: then try another. */
static int start_on_free_port(struct bench_server *srv, char *argv[],
                              int port_arg, const char *probe,
                              const char *expect)
{
    char port[16];
    int rc = BENCH_ERR;
    argv[port_arg] = port;
    for (int attempt = 0; attempt < START_ATTEMPTS && rc != BENCH_OK;
         attempt++) {
        srv->port = free_port();
        if (srv->port < 0)
            break;
        snprintf(port, sizeof port, "%d", srv->port);
        rc = spawn(srv, argv, probe, expect);
    }
    return rc;
}

/* redis-server's command line for srv; argv[REDIS_PORT_ARG] is the port. */
#define REDIS_PORT_ARG 2
#define REDIS_ARGV(srv)                                                     \
    {"redis-server", "--port", NULL, "--bind", "127.0.0.1",                 \
     "--unixsocket", (srv)->unix_path, "--unixsocketperm", "700",           \
     "--save", "", "--appendonly", "no", "--daemonize", "no",               \
     "--dir", (srv)->dir, "--loglevel", "warning", NULL}

int server_start_redis(struct bench_server *srv)
{
    static int said;
    if (!in_path("redis-server"))
        return missing("redis-server", "redis backends", &said);
    if (bench_scratch_dir("/tmp", srv->dir, sizeof srv->dir) != BENCH_OK)
        return BENCH_ERR;
    snprintf(srv->unix_path, sizeof srv->unix_path, "%s/redis.sock",
             srv->dir);
    char *argv[] = REDIS_ARGV(srv);
    int rc = start_on_free_port(srv, argv, REDIS_PORT_ARG, "PING\r\n",
                                "+PONG\r\n");
    if (rc != BENCH_OK)
        bench_remove_tree(srv->dir);
    return rc;
}

int server_restart_redis(struct bench_server *srv)
{
    char port[16];
    char *argv[] = REDIS_ARGV(srv);
    kill_and_reap(srv);
    snprintf(port, sizeof port, "%d", srv->port);
    argv[REDIS_PORT_ARG] = port;
    return spawn(srv, argv, "PING\r\n", "+PONG\r\n");
}

int server_start_memcached(struct bench_server *srv)
{
    static int said;
    if (!in_path("memcached"))
        return missing("memcached", "the memcached backend", &said);
    /* memcached refuses to run as root unless told which user. */
    char *argv[] = {"memcached", "-l", "127.0.0.1", "-p", NULL, "-U", "0",
                    "-m", "1024", geteuid() == 0 ? "-u" : NULL, "root", NULL};
    return start_on_free_port(srv, argv, 4, "version\r\n", "VERSION ");
}

void server_stop(struct bench_server *srv)
{
    kill_and_reap(srv);
    if (srv->dir[0])
        bench_remove_tree(srv->dir);
    srv->dir[0] = '\0';
    srv->unix_path[0] = '\0';
}
