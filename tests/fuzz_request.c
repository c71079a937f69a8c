/* fuzz_request.c - the demo server's request parser (examples/
 * http_request.c) fed anything.
 *
 * Built two ways, like tests/fuzz_config.c: a libFuzzer target with
 * -DSHMC_LIBFUZZER, and otherwise a test that replays tests/fuzz/request,
 * where an input named "ok-*" must parse, "bad-*" must be refused as bad,
 * "large-*" as too large and "more-*" must ask for more. Every input must
 * keep the promises below. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http_request.h"

static int inside(struct http_span s, const char *buf, size_t taken)
{
    return s.at >= buf && s.at + s.len <= buf + taken;
}

/* NULL when the parse of size bytes kept its promises, else which broke. */
static const char *promise(const uint8_t *data, size_t size, long *rc)
{
    const char *buf = (const char *)data;
    struct http_request r;
    *rc = http_request_parse(buf, size, &r);
    if (*rc < HTTP_PARSE_TOO_LARGE || *rc > (long)size)
        return "result out of range";
    if (*rc <= 0)
        return NULL;
    if (!inside(r.method, buf, (size_t)*rc) ||
        !inside(r.target, buf, (size_t)*rc) || r.method.len == 0 ||
        r.target.len == 0 || r.headers > HTTP_MAX_HEADERS ||
        r.body.len > HTTP_MAX_BODY)
        return "request fields outside the request";
    for (unsigned i = 0; i < r.headers; i++)
        if (!inside(r.name[i], buf, (size_t)*rc) ||
            !inside(r.value[i], buf, (size_t)*rc))
            return "a header outside the request";
    /* The head alone, without what followed it, parses the same way. */
    struct http_request again;
    if (http_request_parse(buf, (size_t)*rc, &again) != *rc)
        return "the request alone parses differently";
    return NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    long rc;
    const char *broken = promise(data, size, &rc);
    if (broken) {
        fprintf(stderr, "fuzz_request: %s (rc %ld)\n", broken, rc);
        abort();
    }
    return 0;
}

#ifndef SHMC_LIBFUZZER

#include "fuzzreplay.h"

static void check_input(const char *name, const uint8_t *data, size_t size)
{
    long rc;
    const char *broken = promise(data, size, &rc);
    static const struct {
        const char *prefix;
        int ok;
        long rc;
    } expect[] = {
        {"ok-", 1, 0},
        {"bad-", 0, HTTP_PARSE_BAD},
        {"large-", 0, HTTP_PARSE_TOO_LARGE},
        {"more-", 0, HTTP_PARSE_MORE},
    };
    if (broken) {
        fr_fail(name, "%s", broken);
        return;
    }
    for (size_t i = 0; i < sizeof expect / sizeof expect[0]; i++)
        if (strncmp(name, expect[i].prefix, strlen(expect[i].prefix)) == 0 &&
            (expect[i].ok ? rc <= 0 : rc != expect[i].rc)) {
            fr_fail(name, "parse returned %ld", rc);
            return;
        }
    fr_pass(name, NULL);
}

int main(int argc, char **argv)
{
    char dir[4096];
    fr_corpus_dir(argc, argv, "tests/fuzz/request", dir, sizeof dir);
    fr_replay_dir("fuzz_request", dir, check_input);
    return fr_finish("fuzz_request", dir, 10);
}

#endif
