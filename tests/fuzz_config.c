/* fuzz_config.c - shmcached's configuration parser (daemon/config.c) fed
 * whatever comes.
 *
 * Built two ways. As a test (make check) it replays every file of a corpus
 * directory (default $srcdir/tests/fuzz/config) and a few inputs too large
 * to keep as files. Any input may be given: none may crash it or make it
 * touch memory it should not (AddressSanitizer and valgrind watch the
 * buffers, which are allocated to their exact size). Some inputs also say
 * what they expect: a file named ok-* must parse and pass config_finish; a
 * file named bad-* must fail, and when its first line is
 * "# expect-error: LINE: TEXT" the error must be on LINE (0: about the
 * whole input) and its message must contain TEXT.
 *
 * Built with -fsanitize=fuzzer and SHMC_LIBFUZZER (./configure
 * --enable-fuzzers), it is libFuzzer's target, which aborts when a result
 * breaks the promises of config.h. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

/* What config.h promises about a result, whatever the input: NULL when
 * kept, else which promise broke. */
static const char *broken_promise(int rc, const struct config *c,
                                  const struct config_error *err)
{
    if (rc != 0) {
        size_t n = strnlen(err->message, sizeof err->message);
        return n == 0 || n == sizeof err->message
                   ? "error message empty or not terminated"
                   : NULL;
    }
    if (c->npaths == 0 || c->npaths > CONFIG_MAX_PATHS)
        return "finished config without a path, or too many";
    for (unsigned i = 0; i < c->npaths; i++)
        if (!c->paths[i] || c->paths[i][0] != '/' ||
            strlen(c->paths[i]) > CONFIG_MAX_PATH_LEN)
            return "a path not absolute, or too long";
    if (c->pidfile && c->pidfile[0] != '/')
        return "pidfile not absolute";
    if (!c->tick_ms || !c->sweep_budget_ms ||
        c->sweep_budget_ms > c->tick_ms)
        return "tick or sweep budget out of range";
    if (c->low_watermark >= c->high_watermark || c->high_watermark > 99 ||
        c->high_watermark < 10)
        return "watermarks out of range";
    return NULL;
}

/* Parse and finish size bytes of data, as the daemon does: *rc and *err
 * receive the outcome. Returns a broken promise or NULL. */
static const char *run_input(const uint8_t *data, size_t size, int *rc,
                             struct config_error *err)
{
    struct config c;
    const char *broken;
    *err = (struct config_error){0};
    *rc = config_parse((const char *)data, size, &c, err);
    if (*rc != 0 && (c.npaths || c.pidfile || c.group || c.tick_ms)) {
        broken = "a failed parse left settings behind";
    } else {
        if (*rc == 0)
            *rc = config_finish(&c, err);
        broken = broken_promise(*rc, &c, err);
    }
    config_free(&c);
    return broken;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int rc;
    struct config_error err;
    const char *broken = run_input(data, size, &rc, &err);
    if (broken) {
        fprintf(stderr, "fuzz_config: %s (rc %d, line %u: %s)\n", broken, rc,
                err.line, err.message);
        abort();
    }
    return 0;
}

#ifndef SHMC_LIBFUZZER

#include "fuzzreplay.h"

#define PROG "fuzz_config"

/* The "# expect-error: LINE: TEXT" of an input, if its first line is
 * one: 1 with *line and text (cap bytes) filled, else 0. */
static int expected_error(const uint8_t *data, size_t size, unsigned *line,
                          char *text, size_t cap)
{
    static const char tag[] = "# expect-error: ";
    const char *s = (const char *)data;
    if (size < sizeof tag || memcmp(s, tag, sizeof tag - 1) != 0)
        return 0;
    const char *nl = memchr(s, '\n', size);
    size_t n = (nl ? (size_t)(nl - s) : size) - (sizeof tag - 1);
    char buf[256];
    if (n >= sizeof buf)
        return 0;
    memcpy(buf, s + sizeof tag - 1, n);
    buf[n] = '\0';
    char *colon;
    *line = (unsigned)strtoul(buf, &colon, 10);
    if (colon[0] != ':' || colon[1] != ' ')
        return 0;
    snprintf(text, cap, "%s", colon + 2);
    return 1;
}

/* Run one input and check what its name and first line expect. */
static void check_input(const char *name, const uint8_t *data, size_t size)
{
    int rc;
    struct config_error err;
    const char *broken = run_input(data, size, &rc, &err);
    int ok = strncmp(name, "ok-", 3) == 0;
    int bad = strncmp(name, "bad-", 4) == 0;
    unsigned want_line;
    char want_text[256];
    if (broken) {
        fr_fail(name, "%s", broken);
    } else if (ok && rc != 0) {
        fr_fail(name, "refused: line %u: %s", err.line, err.message);
    } else if (bad && rc == 0) {
        fr_fail(name, "accepted");
    } else if (bad && expected_error(data, size, &want_line, want_text,
                                     sizeof want_text) &&
               (err.line != want_line || !strstr(err.message, want_text))) {
        fr_fail(name, "error 'line %u: %s', expected 'line %u: %s...'",
                err.line, err.message, want_line, want_text);
    } else {
        fr_pass(name, rc ? err.message : NULL);
    }
}

/* n copies of line, in a buffer of exactly that size. */
static uint8_t *repeat(const char *line, size_t n, size_t *size)
{
    size_t len = strlen(line);
    uint8_t *buf = fr_xmalloc(PROG, len * n);
    for (size_t i = 0; i < n; i++)
        memcpy(buf + i * len, line, len);
    *size = len * n;
    return buf;
}

/* Inputs at the parser's bounds, made here rather than kept as files. */
static void check_bounds(void)
{
    size_t size;
    uint8_t *data = repeat("#", CONFIG_MAX_BYTES + 1, &size);
    check_input("bad-too-large", data, size);
    free(data);

    data = repeat("#", CONFIG_MAX_LINE, &size);
    check_input("ok-longest-line", data, size);
    free(data);

    data = repeat("#", CONFIG_MAX_LINE + 1, &size);
    check_input("bad-line-too-long", data, size);
    free(data);

    char many[64];
    size_t len = 0;
    data = fr_xmalloc(PROG, (CONFIG_MAX_PATHS + 1) * sizeof many);
    for (unsigned i = 0; i <= CONFIG_MAX_PATHS; i++) {
        int n = snprintf(many, sizeof many, "path = /dev/shm/i%u\n", i);
        memcpy(data + len, many, (size_t)n);
        len += (size_t)n;
        if (i == CONFIG_MAX_PATHS - 1)
            check_input("ok-most-paths", data, len);
    }
    check_input("bad-too-many-paths", data, len);
    free(data);
}

int main(int argc, char **argv)
{
    char dir[4096];
    fr_corpus_dir(argc, argv, "tests/fuzz/config", dir, sizeof dir);
    fr_replay_dir(PROG, dir, check_input);
    check_bounds();
    return fr_finish(PROG, dir, 10);
}

#endif
