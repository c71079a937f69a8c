/* fuzz_http.c - the HTTP helpers' parsers (lib/http_*.c) fed anything:
 * If-None-Match, Cache-Control and response keys.
 *
 * Built two ways, like tests/fuzz_config.c: a libFuzzer target with
 * -DSHMC_LIBFUZZER, and otherwise a test replaying tests/fuzz/http. Every
 * input must keep the promises below. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shmcache.h"

/* NULL when every promise held, else the one broken. */
static const char *promise(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data;
    int rc = shmc_http_if_none_match(s, size, "\"v1\"");
    if (rc != 0 && rc != 1 && rc != SHMC_EINVAL)
        return "If-None-Match: an answer other than 0, 1 or EINVAL";
    shmc_cache_control cc, again;
    char text[SHMC_HTTP_MAX_FIELD];
    if (shmc_http_cache_control_parse(s, size, &cc) == 0) {
        /* What is parsed, written and parsed again stays the same. */
        if (shmc_http_cache_control_format(&cc, text, sizeof text) != 0)
            return "Cache-Control: a parsed field does not format";
        if (shmc_http_cache_control_parse(text, strlen(text), &again) != 0 ||
            cc.flags != again.flags || cc.max_age != again.max_age ||
            cc.s_maxage != again.s_maxage ||
            cc.stale_while_revalidate != again.stale_while_revalidate ||
            cc.stale_if_error != again.stale_if_error)
            return "Cache-Control: format then parse differs";
    } else if (cc.flags || cc.max_age != -1) {
        return "Cache-Control: a refused field left values behind";
    }
    /* The input as a target: a key, and the key of the key's own
     * normalised target is the same key. */
    static char target[SHMC_HTTP_MAX_FIELD + 2], key[2 * SHMC_HTTP_MAX_FIELD];
    static char key2[2 * SHMC_HTTP_MAX_FIELD], norm[SHMC_HTTP_MAX_FIELD + 2];
    size_t n = size < SHMC_HTTP_MAX_FIELD ? size : SHMC_HTTP_MAX_FIELD;
    target[0] = '/';
    memcpy(target + 1, s, n);
    target[n + 1] = '\0';
    size_t prefix;
    if (strlen(target) == n + 1 &&
        shmc_http_key("GET", "h", target, key, sizeof key, &prefix) == 0) {
        size_t len = strlen(key);
        if (len < 8 || strncmp(key, "http:h/", 7) != 0 ||
            strcmp(key + len - 4, " GET") != 0 || key[prefix - 1] != '?')
            return "key: not http:HOST PATH ? QUERY METHOD";
        memcpy(norm, key + 6, len - 6 - 4);
        norm[len - 10] = '\0';
        /* The separator alone, with no query after it, is not a query. */
        if (strlen(norm) == prefix - 6)
            norm[prefix - 7] = '\0';
        if (shmc_http_key("GET", "h", norm, key2, sizeof key2, NULL) != 0 ||
            strcmp(key, key2) != 0)
            return "key: the normalised target gives another key";
    }
    return NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *broken = promise(data, size);
    if (broken) {
        fprintf(stderr, "fuzz_http: %s\n", broken);
        abort();
    }
    return 0;
}

#ifndef SHMC_LIBFUZZER

#include "fuzzreplay.h"

static void check_input(const char *name, const uint8_t *data, size_t size)
{
    const char *broken = promise(data, size);
    if (broken)
        fr_fail(name, "%s", broken);
    else
        fr_pass(name, NULL);
}

int main(int argc, char **argv)
{
    char dir[4096];
    fr_corpus_dir(argc, argv, "tests/fuzz/http", dir, sizeof dir);
    fr_replay_dir("fuzz_http", dir, check_input);
    return fr_finish("fuzz_http", dir, 10);
}

#endif
