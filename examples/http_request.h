/* http_request.h - the demo server's HTTP/1.1 request parser. Pure: it
 * reads a buffer and fills a struct that points into it, so that it can be
 * fed anything (tests/fuzz_request.c). Bounded: a request whose head is
 * larger than HTTP_MAX_HEAD, with more than HTTP_MAX_HEADERS fields, or a
 * body above HTTP_MAX_BODY is refused, never buffered without end. */
#ifndef DEMO_HTTP_REQUEST_H
#define DEMO_HTTP_REQUEST_H

#include <stddef.h>

#define HTTP_MAX_HEAD 8192u
#define HTTP_MAX_HEADERS 32u
#define HTTP_MAX_BODY 4096u

struct http_span {
    const char *at; /* into the buffer parsed; NULL when absent */
    size_t len;
};

struct http_request {
    struct http_span method, target;
    int minor_version; /* HTTP/1.x */
    struct http_span name[HTTP_MAX_HEADERS], value[HTTP_MAX_HEADERS];
    unsigned headers;
    struct http_span body;
    int keep_alive; /* what the version and Connection ask for */
};

enum {
    HTTP_PARSE_MORE = 0,         /* incomplete: read more and call again */
    HTTP_PARSE_BAD = -1,         /* not HTTP/1.x: answer 400 and close */
    HTTP_PARSE_TOO_LARGE = -2,   /* head or body over the bounds: 431/413 */
};

/* Parse the request at the start of buf (len bytes). Returns the bytes it
 * takes, head and body (> 0, *req filled), or one of the codes above. */
long http_request_parse(const char *buf, size_t len, struct http_request *req);

/* The value of header name (case-insensitive), or a span with at NULL. */
struct http_span http_request_header(const struct http_request *req,
                                     const char *name);

/* Whether span s is exactly the string text. */
int http_span_is(struct http_span s, const char *text);

#endif
