/* config.c - see config.h. */
#include "config.h"

#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

enum key_kind {
    KEY_PATH,  /* absolute path, repeatable: config.paths */
    KEY_FILE,  /* absolute path */
    KEY_GROUP, /* a group name or number */
    KEY_SIZE,  /* uint64_t, bytes with an optional K/M/G/T suffix */
    KEY_UINT,  /* unsigned */
    KEY_TEXT,  /* a string of 1 to max bytes */
    KEY_NAME,  /* a string of 1 to max bytes from '!' to '~' (no blank) */
};

struct key_def {
    const char *name;
    enum key_kind kind;
    uint64_t min, max;
    size_t offset; /* of the field in struct config (all but KEY_PATH) */
};

/* The keys, their ranges and where they go. The instance options take the
 * ranges shmc_open() and tools/cli.c accept. */
static const struct key_def keys[] = {
    {"path", KEY_PATH, 0, 0, 0},
    {"tick_ms", KEY_UINT, 1, 60000, offsetof(struct config, tick_ms)},
    {"sweep_budget_ms", KEY_UINT, 1, 60000,
     offsetof(struct config, sweep_budget_ms)},
    {"high_watermark", KEY_UINT, 10, 99,
     offsetof(struct config, high_watermark)},
    {"low_watermark", KEY_UINT, 1, 98, offsetof(struct config, low_watermark)},
    {"pidfile", KEY_FILE, 0, 0, offsetof(struct config, pidfile)},
    {"map_size", KEY_SIZE, 1u << 20, UINT64_MAX,
     offsetof(struct config, map_size)},
    {"max_readers", KEY_UINT, 1, INT_MAX,
     offsetof(struct config, max_readers)},
    {"group", KEY_GROUP, 0, 0, offsetof(struct config, group)},
    {"lock_slots", KEY_UINT, 1, 1u << 20, offsetof(struct config, lock_slots)},
    {"recency_slots", KEY_UINT, 1, 1u << 26,
     offsetof(struct config, recency_slots)},
    {"redis", KEY_TEXT, 1, CONFIG_MAX_URL_LEN, offsetof(struct config, redis)},
    {"bridge_secret_file", KEY_FILE, 0, 0,
     offsetof(struct config, bridge_secret_file)},
    {"host_id", KEY_NAME, 1, CONFIG_MAX_HOST_ID_LEN,
     offsetof(struct config, host_id)},
    {"stream", KEY_NAME, 1, CONFIG_MAX_STREAM_LEN,
     offsetof(struct config, stream)},
    {"stream_maxlen", KEY_UINT, 100, 1000000000u,
     offsetof(struct config, stream_maxlen)},
    {"outbox_max", KEY_UINT, 1, 100000000u,
     offsetof(struct config, outbox_max)},
};
#define NKEYS (sizeof keys / sizeof keys[0])

__attribute__((format(printf, 3, 4))) static int
fail(char *msg, size_t msgsize, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, msgsize, fmt, ap);
    va_end(ap);
    return -1;
}

void config_init(struct config *c)
{
    memset(c, 0, sizeof *c);
}

void config_free(struct config *c)
{
    for (unsigned i = 0; i < c->npaths; i++)
        free(c->paths[i]);
    for (size_t i = 0; i < NKEYS; i++)
        if (keys[i].kind != KEY_PATH && keys[i].kind != KEY_SIZE &&
            keys[i].kind != KEY_UINT)
            free(*(char **)((char *)c + keys[i].offset));
    config_init(c);
}

static const struct key_def *find_key(const char *name)
{
    for (size_t i = 0; i < NKEYS; i++)
        if (strcmp(keys[i].name, name) == 0)
            return &keys[i];
    return NULL;
}

/* Values are text of one line: a control character in one is a mistake
 * (or an attack on whatever logs it), never meant. */
static int has_control_char(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            return 1;
    return 0;
}

static int check_path(const char *value, char *msg, size_t msgsize)
{
    if (value[0] != '/')
        return fail(msg, msgsize, "'%.64s' is not an absolute path", value);
    if (strlen(value) > CONFIG_MAX_PATH_LEN)
        return fail(msg, msgsize, "path longer than %u bytes",
                    CONFIG_MAX_PATH_LEN);
    return 0;
}

static int check_group(const char *value, char *msg, size_t msgsize)
{
    if (strlen(value) > CONFIG_MAX_GROUP_LEN)
        return fail(msg, msgsize, "group name longer than %u bytes",
                    CONFIG_MAX_GROUP_LEN);
    for (const char *p = value; *p; p++)
        if (*p == ' ' || *p == '\t' || *p == ':' || *p == '/')
            return fail(msg, msgsize, "'%.64s' is not a group name", value);
    return 0;
}

static int check_text(const struct key_def *k, const char *value, char *msg,
                      size_t msgsize)
{
    size_t len = strlen(value);
    if (len > k->max)
        return fail(msg, msgsize, "longer than %llu bytes",
                    (unsigned long long)k->max);
    if (k->kind == KEY_NAME)
        for (const char *p = value; *p; p++)
            if ((unsigned char)*p <= ' ' || (unsigned char)*p > '~')
                return fail(msg, msgsize,
                            "'%.64s': only printable characters, no blank",
                            value);
    return 0;
}

/* Replace the string *field with a copy of value. */
static int set_string(char **field, const char *value, char *msg,
                      size_t msgsize)
{
    char *copy = strdup(value);
    if (!copy)
        return fail(msg, msgsize, "out of memory");
    free(*field);
    *field = copy;
    return 0;
}

static int add_path(struct config *c, const char *value, char *msg,
                    size_t msgsize)
{
    if (check_path(value, msg, msgsize))
        return -1;
    for (unsigned i = 0; i < c->npaths; i++)
        if (strcmp(c->paths[i], value) == 0)
            return fail(msg, msgsize, "'%.64s' given twice", value);
    if (c->npaths == CONFIG_MAX_PATHS)
        return fail(msg, msgsize, "more than %u instances", CONFIG_MAX_PATHS);
    c->paths[c->npaths] = NULL;
    if (set_string(&c->paths[c->npaths], value, msg, msgsize))
        return -1;
    c->npaths++;
    return 0;
}

static int set_number(struct config *c, const struct key_def *k,
                      const char *value, char *msg, size_t msgsize)
{
    char *field = (char *)c + k->offset;
    uint64_t v;
    if (k->kind == KEY_SIZE) {
        if (cli_parse_size(value, &v) || v < k->min)
            return fail(msg, msgsize,
                        "'%.64s' is not a size of 1M or more (K, M, G, T "
                        "suffixes)",
                        value);
        memcpy(field, &v, sizeof v);
        return 0;
    }
    if (cli_parse_uint(value, k->min, k->max, &v))
        return fail(msg, msgsize, "'%.64s' is not a number from %llu to %llu",
                    value, (unsigned long long)k->min,
                    (unsigned long long)k->max);
    unsigned u = (unsigned)v;
    memcpy(field, &u, sizeof u);
    return 0;
}

int config_set(struct config *c, const char *key, const char *value,
               char *msg, size_t msgsize)
{
    const struct key_def *k = find_key(key);
    if (!k)
        return fail(msg, msgsize, "unknown key");
    if (!*value)
        return fail(msg, msgsize, "empty value");
    if (has_control_char(value))
        return fail(msg, msgsize, "control character in the value");
    char **field = (char **)((char *)c + k->offset);
    switch (k->kind) {
    case KEY_PATH:
        return add_path(c, value, msg, msgsize);
    case KEY_FILE:
        if (check_path(value, msg, msgsize))
            return -1;
        return set_string(field, value, msg, msgsize);
    case KEY_GROUP:
        if (check_group(value, msg, msgsize))
            return -1;
        return set_string(field, value, msg, msgsize);
    case KEY_TEXT:
    case KEY_NAME:
        if (check_text(k, value, msg, msgsize))
            return -1;
        return set_string(field, value, msg, msgsize);
    case KEY_SIZE:
    case KEY_UINT:
        return set_number(c, k, value, msg, msgsize);
    }
    return fail(msg, msgsize, "unknown key");
}

/* ---- the parser --------------------------------------------------------- */

static int is_blank(char ch)
{
    return ch == ' ' || ch == '\t';
}

static int is_key_char(char ch)
{
    return (ch >= 'a' && ch <= 'z') || ch == '_';
}

__attribute__((format(printf, 3, 4))) static int
line_fail(struct config_error *err, unsigned line, const char *fmt, ...)
{
    va_list ap;
    err->line = line;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof err->message, fmt, ap);
    va_end(ap);
    return -1;
}

/* One line (n bytes, no newline) of the file. first_seen[k] is the line on
 * which keys[k] was given, 0 for none yet. */
static int parse_line(struct config *c, const char *text, size_t n,
                      unsigned line, unsigned first_seen[NKEYS],
                      struct config_error *err)
{
    char buf[CONFIG_MAX_LINE + 1];
    if (n > CONFIG_MAX_LINE)
        return line_fail(err, line, "line longer than %u bytes",
                         CONFIG_MAX_LINE);
    for (size_t i = 0; i < n; i++)
        if (text[i] == '\0')
            return line_fail(err, line, "NUL byte");
    memcpy(buf, text, n);
    buf[n] = '\0';

    char *p = buf;
    while (is_blank(*p))
        p++;
    if (*p == '\0' || *p == '#')
        return 0;

    char *key = p;
    while (is_key_char(*p))
        p++;
    if (p == key)
        return line_fail(err, line, "expected a key (lower case and '_')");
    char *key_end = p;
    while (is_blank(*p))
        p++;
    if (*p != '=')
        return line_fail(err, line, "expected '=' after the key");
    *key_end = '\0';
    p++;
    while (is_blank(*p))
        p++;
    char *value = p;
    char *end = value + strlen(value);
    while (end > value && is_blank(end[-1]))
        end--;
    *end = '\0';

    const struct key_def *k = find_key(key);
    if (!k)
        return line_fail(err, line, "unknown key '%.40s'", key);
    size_t idx = (size_t)(k - keys);
    if (k->kind != KEY_PATH && first_seen[idx])
        return line_fail(err, line, "%s given twice (first on line %u)",
                         k->name, first_seen[idx]);
    first_seen[idx] = line;

    char msg[sizeof err->message - 48];
    if (config_set(c, key, value, msg, sizeof msg))
        return line_fail(err, line, "%s: %s", k->name, msg);
    return 0;
}

int config_parse(const char *buf, size_t len, struct config *out,
                 struct config_error *err)
{
    unsigned first_seen[NKEYS] = {0};
    config_init(out);
    if (len > CONFIG_MAX_BYTES)
        return line_fail(err, 0, "larger than %u bytes", CONFIG_MAX_BYTES);
    size_t pos = 0;
    for (unsigned line = 1; pos < len; line++) {
        const char *start = buf + pos;
        const char *nl = memchr(start, '\n', len - pos);
        size_t n = nl ? (size_t)(nl - start) : len - pos;
        pos += n + (nl != NULL);
        if (parse_line(out, start, n, line, first_seen, err)) {
            config_free(out);
            return -1;
        }
    }
    return 0;
}

/* ---- merging and defaults ----------------------------------------------- */

static int merge_string(char **base, const char *over)
{
    char msg[32];
    return over ? set_string(base, over, msg, sizeof msg) : 0;
}

int config_merge(struct config *base, const struct config *over)
{
    char msg[32];
    if (over->npaths) {
        for (unsigned i = 0; i < base->npaths; i++)
            free(base->paths[i]);
        base->npaths = 0;
        for (unsigned i = 0; i < over->npaths; i++)
            if (add_path(base, over->paths[i], msg, sizeof msg))
                return -1;
    }
    for (size_t i = 0; i < NKEYS; i++) {
        const struct key_def *k = &keys[i];
        const char *from = (const char *)over + k->offset;
        char *to = (char *)base + k->offset;
        if (k->kind == KEY_SIZE) {
            uint64_t v;
            memcpy(&v, from, sizeof v);
            if (v)
                memcpy(to, &v, sizeof v);
        } else if (k->kind == KEY_UINT) {
            unsigned v;
            memcpy(&v, from, sizeof v);
            if (v)
                memcpy(to, &v, sizeof v);
        } else if (k->kind != KEY_PATH &&
                   merge_string((char **)to, *(char *const *)from)) {
            return -1;
        }
    }
    return 0;
}

int config_finish(struct config *c, struct config_error *err)
{
    char msg[32];
    if (c->npaths == 0 && add_path(c, SHMC_DEFAULT_PATH, msg, sizeof msg))
        return line_fail(err, 0, "%s", msg);
    if (!c->tick_ms)
        c->tick_ms = CONFIG_DEFAULT_TICK_MS;
    if (!c->sweep_budget_ms)
        c->sweep_budget_ms = CONFIG_DEFAULT_SWEEP_BUDGET_MS;
    if (!c->high_watermark)
        c->high_watermark = SHMC_DEFAULT_HIGH_WATERMARK;
    if (!c->low_watermark)
        c->low_watermark = CONFIG_DEFAULT_LOW_WATERMARK;
    if (c->low_watermark >= c->high_watermark)
        return line_fail(err, 0,
                         "low_watermark (%u) must be below high_watermark "
                         "(%u)",
                         c->low_watermark, c->high_watermark);
    if (!c->stream && !(c->stream = strdup(CONFIG_DEFAULT_STREAM)))
        return line_fail(err, 0, "out of memory");
    if (!c->stream_maxlen)
        c->stream_maxlen = CONFIG_DEFAULT_STREAM_MAXLEN;
    if (!c->outbox_max)
        c->outbox_max = CONFIG_DEFAULT_OUTBOX_MAX;
    if (c->sweep_budget_ms > c->tick_ms)
        return line_fail(err, 0,
                         "sweep_budget_ms (%u) must not exceed tick_ms (%u)",
                         c->sweep_budget_ms, c->tick_ms);
    return 0;
}

shmc_opts config_instance_opts(const struct config *c)
{
    return (shmc_opts){
        .map_size = c->map_size,
        .max_readers = c->max_readers,
        .group = c->group,
        .lock_slots = c->lock_slots,
        .recency_slots = c->recency_slots,
        .high_watermark = c->high_watermark,
    };
}
