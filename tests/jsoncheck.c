/* jsoncheck.c - see jsoncheck.h. A recursive-descent parser that follows
 * the grammar of RFC 8259 to the letter: no trailing commas, no leading
 * zeros, no raw control characters in strings, no bare words but true,
 * false and null. */
#include "jsoncheck.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define MAX_DEPTH 32

struct parser {
    const char *s;
    size_t len, pos;
    char *err;
    size_t errlen;
    int failed;
};

__attribute__((format(printf, 2, 3))) static int fail(struct parser *p,
                                                      const char *fmt, ...)
{
    if (!p->failed) {
        char what[200];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(what, sizeof what, fmt, ap);
        va_end(ap);
        snprintf(p->err, p->errlen, "at byte %zu: %s", p->pos, what);
        p->failed = 1;
    }
    return -1;
}

static int peek(const struct parser *p)
{
    return p->pos < p->len ? (unsigned char)p->s[p->pos] : -1;
}

static void skip_space(struct parser *p)
{
    while (p->pos < p->len && p->s[p->pos] && strchr(" \t\n\r", p->s[p->pos]))
        p->pos++;
}

static int expect(struct parser *p, char c)
{
    skip_space(p);
    if (peek(p) != (unsigned char)c)
        return fail(p, "expected '%c'", c);
    p->pos++;
    return 0;
}

/* Append c to out (size cap, NUL-terminated), dropping what does not
 * fit. */
static void put(char *out, size_t cap, size_t *n, char c)
{
    if (out && *n + 1 < cap) {
        out[(*n)++] = c;
        out[*n] = '\0';
    }
}

static int hex4(struct parser *p, unsigned *v)
{
    *v = 0;
    for (int i = 0; i < 4; i++) {
        int c = peek(p);
        unsigned d;
        if (c >= '0' && c <= '9')
            d = (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f')
            d = (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            d = (unsigned)(c - 'A' + 10);
        else
            return fail(p, "bad \\u escape");
        *v = *v << 4 | d;
        p->pos++;
    }
    return 0;
}

/* A string, opening quote next; its value into out (may be NULL). */
static int parse_string(struct parser *p, char *out, size_t cap)
{
    size_t n = 0;
    if (out && cap)
        out[0] = '\0';
    p->pos++;
    for (;;) {
        int c = peek(p);
        if (c < 0)
            return fail(p, "unterminated string");
        p->pos++;
        if (c == '"')
            return 0;
        if (c < 0x20)
            return fail(p, "raw control character in a string");
        if (c != '\\') {
            put(out, cap, &n, (char)c);
            continue;
        }
        c = peek(p);
        p->pos++;
        const char *plain = strchr("\"\\/bfnrt", c > 0 ? c : 'x');
        if (plain) {
            static const char decoded[] = "\"\\/\b\f\n\r\t";
            put(out, cap, &n, decoded[plain - "\"\\/bfnrt"]);
        } else if (c == 'u') {
            unsigned v;
            if (hex4(p, &v))
                return -1;
            put(out, cap, &n, v < 0x80 ? (char)v : '?');
        } else {
            return fail(p, "bad escape");
        }
    }
}

static int digits(struct parser *p)
{
    size_t start = p->pos;
    while (peek(p) >= '0' && peek(p) <= '9')
        p->pos++;
    return p->pos > start ? 0 : fail(p, "expected a digit");
}

/* -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)? */
static int parse_number(struct parser *p, char *out, size_t cap)
{
    size_t start = p->pos;
    if (peek(p) == '-')
        p->pos++;
    if (peek(p) == '0')
        p->pos++;
    else if (digits(p))
        return -1;
    if (peek(p) == '.') {
        p->pos++;
        if (digits(p))
            return -1;
    }
    if (peek(p) == 'e' || peek(p) == 'E') {
        p->pos++;
        if (peek(p) == '+' || peek(p) == '-')
            p->pos++;
        if (digits(p))
            return -1;
    }
    if (out)
        snprintf(out, cap, "%.*s", (int)(p->pos - start), p->s + start);
    return 0;
}

static int parse_word(struct parser *p, const char *word)
{
    size_t n = strlen(word);
    if (p->len - p->pos < n || memcmp(p->s + p->pos, word, n) != 0)
        return fail(p, "unexpected character");
    p->pos += n;
    return 0;
}

static int parse_value(struct parser *p, int depth, enum jc_type *type,
                       char *text, size_t cap);

/* An object or array, opening bracket next. Members of the top object
 * (top non-NULL) are kept. */
static int parse_container(struct parser *p, int depth, char close,
                           struct jc_object *top)
{
    if (depth > MAX_DEPTH)
        return fail(p, "nested too deep");
    p->pos++;
    skip_space(p);
    if (peek(p) == close) {
        p->pos++;
        return 0;
    }
    for (;;) {
        struct jc_member scratch, *m = &scratch;
        skip_space(p);
        if (close == '}') {
            if (top && top->count == JC_MAX_MEMBERS)
                return fail(p, "more members than this checker keeps");
            if (top)
                m = &top->members[top->count];
            if (peek(p) != '"')
                return fail(p, "expected a member name");
            if (parse_string(p, m->name, sizeof m->name) || expect(p, ':'))
                return -1;
            for (size_t i = 0; top && i < top->count; i++)
                if (strcmp(top->members[i].name, m->name) == 0)
                    return fail(p, "member '%s' twice", m->name);
        }
        if (parse_value(p, depth + 1, &m->type, m->text, sizeof m->text))
            return -1;
        if (top && close == '}')
            top->count++;
        skip_space(p);
        if (peek(p) == close) {
            p->pos++;
            return 0;
        }
        if (expect(p, ','))
            return -1;
    }
}

static int parse_value(struct parser *p, int depth, enum jc_type *type,
                       char *text, size_t cap)
{
    skip_space(p);
    text[0] = '\0';
    int c = peek(p);
    switch (c) {
    case '{':
        *type = JC_OBJECT;
        return parse_container(p, depth, '}', NULL);
    case '[':
        *type = JC_ARRAY;
        return parse_container(p, depth, ']', NULL);
    case '"':
        *type = JC_STRING;
        return parse_string(p, text, cap);
    case 't':
        *type = JC_BOOL;
        return parse_word(p, "true");
    case 'f':
        *type = JC_BOOL;
        return parse_word(p, "false");
    case 'n':
        *type = JC_NULL;
        return parse_word(p, "null");
    default:
        *type = JC_NUMBER;
        if (c == '-' || (c >= '0' && c <= '9'))
            return parse_number(p, text, cap);
        return fail(p, c < 0 ? "unexpected end" : "unexpected character");
    }
}

int jc_parse_object(const char *text, size_t len, struct jc_object *out,
                    char *err, size_t errlen)
{
    struct parser p = {.s = text, .len = len, .err = err, .errlen = errlen};
    out->count = 0;
    skip_space(&p);
    if (peek(&p) != '{')
        return fail(&p, "expected an object");
    if (parse_container(&p, 0, '}', out))
        return -1;
    skip_space(&p);
    if (p.pos != p.len)
        return fail(&p, "more after the object");
    return 0;
}

const struct jc_member *jc_member(const struct jc_object *o, const char *name)
{
    for (size_t i = 0; i < o->count; i++)
        if (strcmp(o->members[i].name, name) == 0)
            return &o->members[i];
    return NULL;
}
