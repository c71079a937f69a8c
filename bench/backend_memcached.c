/* backend_memcached.c - memcached's text protocol over TCP 127.0.0.1 on a
 * plain socket (TCP_NODELAY), one request and one reply per operation
 * (populating sends a batch of sets, then reads their replies).
 * Replies are parsed in full, so a reply left half-read can never be
 * mistaken for the answer to the next request. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "bench.h"
#include "servers.h"

#define INITIAL_BUFFER 4096

struct memcached_state {
    int port;
};

struct memcached_conn {
    int fd;
    char *buf; /* received bytes not yet parsed: buf[start, end) */
    size_t cap, start, end;
};

static int memcached_open(const struct bench_params *p,
                          const struct bench_server *srv, void **state)
{
    (void)p;
    struct memcached_state *s = calloc(1, sizeof *s);
    if (!s)
        return bench_fail("out of memory");
    s->port = srv->port;
    *state = s;
    return BENCH_OK;
}

static void memcached_close(void *state)
{
    free(state);
}

static void memcached_disconnect(void *conn)
{
    struct memcached_conn *c = conn;
    close(c->fd);
    free(c->buf);
    free(c);
}

static int memcached_connect(void *state, void **conn)
{
    const struct memcached_state *s = state;
    struct memcached_conn *c = calloc(1, sizeof *c);
    if (!c)
        return bench_fail("out of memory");
    c->cap = INITIAL_BUFFER;
    c->buf = malloc(c->cap);
    c->fd = c->buf ? bench_tcp_connect(s->port) : bench_fail("out of memory");
    if (c->fd < 0) {
        free(c->buf);
        free(c);
        return BENCH_ERR;
    }
    *conn = c;
    return BENCH_OK;
}

static int send_all(struct memcached_conn *c, struct iovec *iov, int n)
{
    while (n > 0) {
        struct msghdr msg = {.msg_iov = iov, .msg_iovlen = (size_t)n};
        ssize_t sent = sendmsg(c->fd, &msg, MSG_NOSIGNAL);
        if (sent < 0) {
            if (errno == EINTR)
                continue;
            return bench_fail("memcached send: %m");
        }
        while (n > 0 && (size_t)sent >= iov->iov_len) {
            sent -= (ssize_t)iov->iov_len;
            iov++;
            n--;
        }
        if (n > 0) {
            iov->iov_base = (char *)iov->iov_base + sent;
            iov->iov_len -= (size_t)sent;
        }
    }
    return BENCH_OK;
}

/* Receive more bytes, making room first. Pointers into buf taken before
 * the call are invalid after it. */
static int fill(struct memcached_conn *c)
{
    if (c->start > 0) {
        memmove(c->buf, c->buf + c->start, c->end - c->start);
        c->end -= c->start;
        c->start = 0;
    }
    if (c->end == c->cap) {
        char *bigger = realloc(c->buf, c->cap * 2);
        if (!bigger)
            return bench_fail("out of memory");
        c->buf = bigger;
        c->cap *= 2;
    }
    for (;;) {
        ssize_t n = recv(c->fd, c->buf + c->end, c->cap - c->end, 0);
        if (n > 0) {
            c->end += (size_t)n;
            return BENCH_OK;
        }
        if (n == 0)
            return bench_fail("memcached closed the connection");
        if (errno != EINTR)
            return bench_fail("memcached recv: %m");
    }
}

/* The next reply line, without its CRLF, consumed from the buffer. Valid
 * until the next fill(); the CRLF after it stays in memory, so numbers in
 * it can be parsed with strtoull. */
static int read_line(struct memcached_conn *c, const char **line,
                     size_t *len)
{
    for (;;) {
        char *at = c->buf + c->start;
        char *crlf = memmem(at, c->end - c->start, "\r\n", 2);
        if (crlf) {
            *line = at;
            *len = (size_t)(crlf - at);
            c->start += *len + 2;
            return BENCH_OK;
        }
        if (fill(c) != BENCH_OK)
            return BENCH_ERR;
    }
}

static int need_bytes(struct memcached_conn *c, size_t n)
{
    while (c->end - c->start < n)
        if (fill(c) != BENCH_OK)
            return BENCH_ERR;
    return BENCH_OK;
}

static int line_is(const char *line, size_t len, const char *word)
{
    return len == strlen(word) && memcmp(line, word, len) == 0;
}

static int unexpected(const char *cmd, const char *line, size_t len)
{
    return bench_fail("memcached %s: unexpected reply \"%.*s\"", cmd,
                      (int)(len > 200 ? 200 : len), line);
}

/* Parse "VALUE <key> <flags> <bytes>" for key into *bytes. */
static int parse_value_line(const char *line, size_t len, const char *key,
                            size_t klen, size_t *bytes)
{
    static const char prefix[] = "VALUE ";
    const size_t plen = sizeof prefix - 1;
    if (len < plen + klen + 1 || memcmp(line, prefix, plen) != 0 ||
        memcmp(line + plen, key, klen) != 0 || line[plen + klen] != ' ')
        return unexpected("get", line, len);
    const char *flags = line + plen + klen + 1;
    const char *space = memchr(flags, ' ', len - (size_t)(flags - line));
    if (!space)
        return unexpected("get", line, len);
    char *end;
    errno = 0;
    unsigned long long n = strtoull(space + 1, &end, 10);
    if (errno || end != line + len || end == space + 1)
        return unexpected("get", line, len);
    *bytes = (size_t)n;
    return BENCH_OK;
}

static int memcached_get(void *conn, const char *key, size_t klen, void *buf,
                         size_t cap, size_t *len)
{
    struct memcached_conn *c = conn;
    struct iovec iov[] = {
        {"get ", 4}, {(void *)key, klen}, {"\r\n", 2}};
    const char *line;
    size_t llen, bytes = 0;
    if (send_all(c, iov, 3) != BENCH_OK ||
        read_line(c, &line, &llen) != BENCH_OK)
        return BENCH_ERR;
    if (line_is(line, llen, "END"))
        return BENCH_MISS;
    if (parse_value_line(line, llen, key, klen, &bytes) != BENCH_OK ||
        need_bytes(c, bytes + 2) != BENCH_OK)
        return BENCH_ERR;
    const char *data = c->buf + c->start;
    if (memcmp(data + bytes, "\r\n", 2) != 0)
        return bench_fail("memcached get: value not followed by CRLF");
    *len = bytes;
    memcpy(buf, data, bytes < cap ? bytes : cap);
    c->start += bytes + 2;
    if (read_line(c, &line, &llen) != BENCH_OK)
        return BENCH_ERR;
    return line_is(line, llen, "END") ? BENCH_OK
                                      : unexpected("get", line, llen);
}

/* A set request is five pieces; the tail holds " <flags> <exptime>
 * <bytes>\r\n" (flags 0, no expiry). */
#define SET_IOVECS 5
#define SET_TAIL 48
/* Requests per sendmsg, within its limit of iovecs. */
#define SETS_PER_SEND (IOV_MAX / SET_IOVECS)

/* Point iov at the request storing it; tail must outlive the send. */
static void set_request(struct iovec iov[SET_IOVECS], char tail[SET_TAIL],
                        const struct bench_item *it)
{
    int tlen = snprintf(tail, SET_TAIL, " 0 0 %zu\r\n", it->vlen);
    iov[0] = (struct iovec){"set ", 4};
    iov[1] = (struct iovec){(void *)it->key, it->klen};
    iov[2] = (struct iovec){tail, (size_t)tlen};
    iov[3] = (struct iovec){(void *)it->val, it->vlen};
    iov[4] = (struct iovec){"\r\n", 2};
}

static int set_reply(struct memcached_conn *c)
{
    const char *line;
    size_t llen;
    if (read_line(c, &line, &llen) != BENCH_OK)
        return BENCH_ERR;
    return line_is(line, llen, "STORED") ? BENCH_OK
                                         : unexpected("set", line, llen);
}

static int memcached_set(void *conn, const char *key, size_t klen,
                         const void *val, size_t vlen)
{
    const struct bench_item it = {key, klen, val, vlen};
    struct iovec iov[SET_IOVECS];
    char tail[SET_TAIL];
    set_request(iov, tail, &it);
    if (send_all(conn, iov, SET_IOVECS) != BENCH_OK)
        return BENCH_ERR;
    return set_reply(conn);
}

/* Every request of the batch is sent before the first reply is read, so
 * the batch costs about one round trip. Meanwhile the replies (8 bytes
 * each) wait in the socket buffers, which hold far more than a batch's. */
static int memcached_populate(void *conn, const struct bench_item *items,
                              size_t n)
{
    struct iovec iov[SETS_PER_SEND * SET_IOVECS];
    char tails[SETS_PER_SEND][SET_TAIL];
    for (size_t sent = 0; sent < n;) {
        size_t k = n - sent < SETS_PER_SEND ? n - sent : SETS_PER_SEND;
        for (size_t j = 0; j < k; j++)
            set_request(iov + j * SET_IOVECS, tails[j], &items[sent + j]);
        if (send_all(conn, iov, (int)(k * SET_IOVECS)) != BENCH_OK)
            return BENCH_ERR;
        sent += k;
    }
    for (size_t i = 0; i < n; i++)
        if (set_reply(conn) != BENCH_OK)
            return BENCH_ERR;
    return BENCH_OK;
}

static int memcached_del(void *conn, const char *key, size_t klen)
{
    struct memcached_conn *c = conn;
    struct iovec iov[] = {
        {"delete ", 7}, {(void *)key, klen}, {"\r\n", 2}};
    const char *line;
    size_t llen;
    if (send_all(c, iov, 3) != BENCH_OK ||
        read_line(c, &line, &llen) != BENCH_OK)
        return BENCH_ERR;
    if (line_is(line, llen, "DELETED"))
        return BENCH_OK;
    if (line_is(line, llen, "NOT_FOUND"))
        return BENCH_MISS;
    return unexpected("delete", line, llen);
}

const struct bench_backend bench_backend_memcached = {
    .name = "memcached",
    .start = server_start_memcached,
    .stop = server_stop,
    .open = memcached_open,
    .connect = memcached_connect,
    .get = memcached_get,
    .set = memcached_set,
    .del = memcached_del,
    .populate = memcached_populate,
    .disconnect = memcached_disconnect,
    .close = memcached_close,
};
