/* http_request.c - see http_request.h. RFC 9112's message syntax, as much
 * of it as a demo server needs: no chunked request bodies (411 territory:
 * refused as bad), no obsolete line folding. */
#include "http_request.h"

#include <string.h>
#include <strings.h>

static int is_tchar(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9') || (c && strchr("!#$%&'*+-.^_`|~", c));
}

static int is_vchar_or_blank(unsigned char c)
{
    return (c >= 0x20 && c != 0x7f) || c == '\t';
}

int http_span_is(struct http_span s, const char *text)
{
    return s.at && s.len == strlen(text) && memcmp(s.at, text, s.len) == 0;
}

struct http_span http_request_header(const struct http_request *req,
                                     const char *name)
{
    size_t n = strlen(name);
    for (unsigned i = 0; i < req->headers; i++)
        if (req->name[i].len == n && strncasecmp(req->name[i].at, name, n) == 0)
            return req->value[i];
    return (struct http_span){NULL, 0};
}

/* "METHOD SP TARGET SP HTTP/1.x" of n bytes. */
static int parse_request_line(const char *s, size_t n, struct http_request *r)
{
    size_t i = 0;
    while (i < n && is_tchar((unsigned char)s[i]))
        i++;
    if (i == 0 || i > 16 || i >= n || s[i] != ' ')
        return -1;
    r->method = (struct http_span){s, i};
    size_t t = ++i;
    while (i < n && (unsigned char)s[i] > 0x20 && s[i] != 0x7f)
        i++;
    if (i == t || i >= n || s[i] != ' ')
        return -1;
    r->target = (struct http_span){s + t, i - t};
    i++;
    if (n - i != 8 || memcmp(s + i, "HTTP/1.", 7) != 0 || s[i + 7] < '0' ||
        s[i + 7] > '9')
        return -1;
    r->minor_version = s[i + 7] - '0';
    return 0;
}

/* "name: value" of n bytes, value trimmed of blanks. */
static int parse_field(const char *s, size_t n, struct http_request *r)
{
    size_t i = 0;
    while (i < n && is_tchar((unsigned char)s[i]))
        i++;
    if (i == 0 || i >= n || s[i] != ':')
        return -1;
    if (r->headers == HTTP_MAX_HEADERS)
        return -2;
    r->name[r->headers] = (struct http_span){s, i};
    i++;
    while (i < n && (s[i] == ' ' || s[i] == '\t'))
        i++;
    size_t end = n;
    while (end > i && (s[end - 1] == ' ' || s[end - 1] == '\t'))
        end--;
    for (size_t k = i; k < end; k++)
        if (!is_vchar_or_blank((unsigned char)s[k]))
            return -1;
    r->value[r->headers++] = (struct http_span){s + i, end - i};
    return 0;
}

/* Content-Length: digits only, at most HTTP_MAX_BODY. -1 bad, -2 large. */
static long content_length(struct http_span v)
{
    long n = 0;
    if (!v.at)
        return 0;
    if (v.len == 0 || v.len > 9)
        return v.len > 9 ? -2 : -1;
    for (size_t i = 0; i < v.len; i++) {
        if (v.at[i] < '0' || v.at[i] > '9')
            return -1;
        n = n * 10 + (v.at[i] - '0');
    }
    return n > (long)HTTP_MAX_BODY ? -2 : n;
}

static int wants_close(struct http_span v)
{
    return v.at && v.len == 5 && strncasecmp(v.at, "close", 5) == 0;
}

static int wants_keep_alive(struct http_span v)
{
    return v.at && v.len == 10 && strncasecmp(v.at, "keep-alive", 10) == 0;
}

long http_request_parse(const char *buf, size_t len, struct http_request *r)
{
    memset(r, 0, sizeof *r);
    size_t scan = len < HTTP_MAX_HEAD ? len : HTTP_MAX_HEAD;
    size_t pos = 0;
    int first = 1;
    for (;;) {
        const char *nl = memchr(buf + pos, '\n', scan - pos);
        if (!nl)
            return len >= HTTP_MAX_HEAD ? HTTP_PARSE_TOO_LARGE
                                        : HTTP_PARSE_MORE;
        size_t end = (size_t)(nl - buf);
        if (end == pos || buf[end - 1] != '\r')
            return HTTP_PARSE_BAD;
        size_t n = end - 1 - pos;
        const char *line = buf + pos;
        pos = end + 1;
        if (first) {
            if (parse_request_line(line, n, r))
                return HTTP_PARSE_BAD;
            first = 0;
            continue;
        }
        if (n == 0)
            break;
        int rc = parse_field(line, n, r);
        if (rc)
            return rc == -2 ? HTTP_PARSE_TOO_LARGE : HTTP_PARSE_BAD;
    }
    if (http_request_header(r, "Transfer-Encoding").at)
        return HTTP_PARSE_BAD;
    long body = content_length(http_request_header(r, "Content-Length"));
    if (body < 0)
        return body == -2 ? HTTP_PARSE_TOO_LARGE : HTTP_PARSE_BAD;
    if (len - pos < (size_t)body)
        return HTTP_PARSE_MORE;
    r->body = (struct http_span){buf + pos, (size_t)body};
    struct http_span conn = http_request_header(r, "Connection");
    r->keep_alive = r->minor_version >= 1 ? !wants_close(conn)
                                          : wants_keep_alive(conn);
    return (long)(pos + (size_t)body);
}
