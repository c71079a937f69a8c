/* fuzz_bridge.c - the bridge's two parsers fed anything: the revocation
 * message decoder (daemon/bridge_msg.c) and the Redis URL parser
 * (daemon/redis_url.c).
 *
 * Built two ways. With -DSHMC_LIBFUZZER it is a libFuzzer target (see
 * Makefile.am). Otherwise it is a test that replays tests/fuzz/bridge: an
 * input whose name starts with "msg-ok-" must decode and carry a valid
 * signature under FUZZ_SECRET, "msg-bad-" must not decode, "url-ok-" must
 * parse and "url-bad-" must not; every input must keep the promises below. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bridge_msg.h"
#include "redis_url.h"

/* The secret the corpus's messages are signed with. */
#define FUZZ_SECRET "fuzz-bridge-secret-0123456789abc"

static int same_fields(const struct bridge_msg *a, const struct bridge_msg *b)
{
    return a->kind == b->kind && a->key_form == b->key_form &&
           a->origin_len == b->origin_len &&
           memcmp(a->origin, b->origin, a->origin_len) == 0 &&
           a->incarnation == b->incarnation && a->seq == b->seq &&
           a->time_ms == b->time_ms &&
           memcmp(a->keyspace, b->keyspace, sizeof a->keyspace) == 0 &&
           a->key_len == b->key_len &&
           (a->key_len == 0 || memcmp(a->key, b->key, a->key_len) == 0);
}

/* A decoded message encodes again into a message that decodes to the same
 * fields and verifies. NULL when kept, else the broken promise. */
static const char *message_promise(const uint8_t *data, size_t size,
                                   int *decoded)
{
    static unsigned char again[BRIDGE_MSG_MAX_LEN];
    const unsigned char *secret = (const unsigned char *)FUZZ_SECRET;
    struct bridge_msg m, m2;
    char why[128] = "";
    *decoded = bridge_msg_decode(data, size, &m, why, sizeof why) == 0;
    if (!*decoded)
        return why[0] && strnlen(why, sizeof why) < sizeof why
                   ? NULL
                   : "refused without a reason";
    size_t n = bridge_msg_encode(&m, secret, strlen(FUZZ_SECRET), again,
                                 sizeof again);
    if (n != size)
        return "a decoded message does not encode to its own size";
    if (bridge_msg_decode(again, n, &m2, NULL, 0) != 0 ||
        !same_fields(&m, &m2))
        return "re-encoded message decodes differently";
    if (!bridge_msg_verify(again, n, secret, strlen(FUZZ_SECRET)))
        return "re-encoded message does not verify";
    if (bridge_msg_verify(again, n, secret, strlen(FUZZ_SECRET) - 1))
        return "a message verifies under another secret";
    return NULL;
}

/* The first bytes of data as a string, parsed as a URL. */
static const char *url_promise(const uint8_t *data, size_t size, int *parsed)
{
    char s[REDIS_URL_MAX_LEN + 64];
    size_t n = size < sizeof s - 1 ? size : sizeof s - 1;
    memcpy(s, data, n);
    s[n] = '\0';
    struct redis_url u;
    char why[128] = "";
    *parsed = redis_url_parse(s, &u, why, sizeof why) == 0;
    if (!*parsed)
        return why[0] ? NULL : "refused without a reason";
    if (u.is_unix ? u.path[0] != '/' || strlen(u.path) >= sizeof u.path
                  : !u.host[0] || u.port == 0 || u.port > 65535 ||
                        strlen(u.host) >= sizeof u.host)
        return "parsed URL breaks its bounds";
    /* Where a password would be shown, only "***" is. */
    char text[REDIS_URL_MAX_LEN + 64], shown[sizeof u.password + 2];
    redis_url_describe(&u, text, sizeof text);
    snprintf(shown, sizeof shown, ":%s@", u.password);
    if (u.has_password && strcmp(u.password, "***") != 0 &&
        strstr(text, shown))
        return "the description shows the password";
    return NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int decoded, parsed;
    const char *broken = message_promise(data, size, &decoded);
    if (!broken)
        broken = url_promise(data, size, &parsed);
    if (broken) {
        fprintf(stderr, "fuzz_bridge: %s\n", broken);
        abort();
    }
    return 0;
}

#ifndef SHMC_LIBFUZZER

#include "fuzzreplay.h"

#define PROG "fuzz_bridge"

static void check_input(const char *name, const uint8_t *data, size_t size)
{
    int decoded, parsed;
    const char *broken = message_promise(data, size, &decoded);
    if (!broken)
        broken = url_promise(data, size, &parsed);
    int verifies = decoded && bridge_msg_verify(data, size,
                                                (const unsigned char *)
                                                    FUZZ_SECRET,
                                                strlen(FUZZ_SECRET));
    if (broken)
        fr_fail(name, "%s", broken);
    else if (strncmp(name, "msg-ok-", 7) == 0 && !verifies)
        fr_fail(name, decoded ? "does not verify" : "does not decode");
    else if (strncmp(name, "msg-bad-", 8) == 0 && decoded)
        fr_fail(name, "decodes");
    else if (strncmp(name, "url-ok-", 7) == 0 && !parsed)
        fr_fail(name, "refused");
    else if (strncmp(name, "url-bad-", 8) == 0 && parsed)
        fr_fail(name, "parsed");
    else
        fr_pass(name, NULL);
}

int main(int argc, char **argv)
{
    char dir[4096];
    fr_corpus_dir(argc, argv, "tests/fuzz/bridge", dir, sizeof dir);
    fr_replay_dir(PROG, dir, check_input);
    return fr_finish(PROG, dir, 20);
}

#endif
