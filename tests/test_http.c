/* test_http.c - the HTTP helpers: ETags, If-None-Match, Cache-Control and
 * response keys (lib/http_*.c). */
#include "testutil.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>

static int inm(const char *header, const char *etag)
{
    return shmc_http_if_none_match(header, strlen(header), etag);
}

static void test_etags(void **state)
{
    (void)state;
    char buf[SHMC_HTTP_ETAG_LEN];
    tu_assert_rc(shmc_http_etag(0x0102030405060708ull, 0, buf, sizeof buf),
                 0);
    assert_string_equal(buf, "\"v0102030405060708\"");
    tu_assert_rc(shmc_http_etag(1, 1, buf, sizeof buf), 0);
    assert_string_equal(buf, "W/\"v0000000000000001\"");
    /* Every size too small is refused; the exact size is enough. */
    for (size_t size = 0; size < 22; size++)
        tu_assert_rc(shmc_http_etag(1, 1, buf, size), SHMC_EBUFSMALL);
    tu_assert_rc(shmc_http_etag(1, 1, buf, 22), 0);

    unsigned char digest[32];
    unsigned int n;
    EVP_Digest("hello", 5, digest, &n, EVP_sha256(), NULL);
    char want[40] = "\"h";
    for (int i = 0; i < 16; i++)
        snprintf(want + 2 + 2 * i, 3, "%02x", digest[i]);
    strcat(want, "\"");
    tu_assert_rc(shmc_http_etag_of("hello", 5, 0, buf, sizeof buf), 0);
    assert_string_equal(buf, want);
    tu_assert_rc(shmc_http_etag_of("", 0, 0, buf, sizeof buf), 0);
    tu_assert_rc(shmc_http_etag_of(NULL, 3, 0, buf, sizeof buf), SHMC_EINVAL);
}

/* RFC 9110 8.8.3.2's table, and lists. */
static void test_if_none_match(void **state)
{
    (void)state;
    assert_int_equal(inm("W/\"1\"", "W/\"1\""), 1);
    assert_int_equal(inm("W/\"1\"", "W/\"2\""), 0);
    assert_int_equal(inm("W/\"1\"", "\"1\""), 1);
    assert_int_equal(inm("\"1\"", "\"1\""), 1);
    assert_int_equal(inm("*", "\"x\""), 1);
    assert_int_equal(inm("  *  ", "\"x\""), 1);
    assert_int_equal(inm("\"a\", W/\"b\" ,\"c\"", "\"b\""), 1);
    assert_int_equal(inm("\"a\",\"c\"", "\"b\""), 0);
    assert_int_equal(inm(",, \"b\" ,", "W/\"b\""), 1);
    assert_int_equal(inm("\"\"", "\"\""), 1);
    static const char *bad[] = {"", " ", ",", "\"a", "a", "\"a\" \"b\"",
                                "W/a", "\"a\";", "*, \"a\"", "\"a b\""};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (inm(bad[i], "\"a\"") != SHMC_EINVAL)
            fail_msg("If-None-Match '%s' accepted", bad[i]);
    assert_int_equal(inm("\"a\"", "not-a-tag"), SHMC_EINVAL);
    static char big[SHMC_HTTP_MAX_FIELD + 8];
    memset(big, ' ', sizeof big - 1);
    big[0] = '*';
    assert_int_equal(shmc_http_if_none_match(big, sizeof big - 1, "\"a\""),
                     SHMC_EINVAL);
}

static shmc_cache_control cc_of(const char *s)
{
    shmc_cache_control cc;
    int rc = shmc_http_cache_control_parse(s, strlen(s), &cc);
    if (rc)
        fail_msg("'%s': %s", s, shmc_last_error());
    return cc;
}

static void test_cache_control_parse(void **state)
{
    (void)state;
    shmc_cache_control cc = cc_of("public, max-age=60, s-maxage=\"120\", "
                                  "stale-while-revalidate=30, "
                                  "stale-if-error=600, immutable");
    assert_int_equal(cc.flags, SHMC_CC_PUBLIC | SHMC_CC_IMMUTABLE);
    assert_true(cc.max_age == 60 && cc.s_maxage == 120 &&
                cc.stale_while_revalidate == 30 && cc.stale_if_error == 600);
    cc = cc_of("No-Store,PRIVATE=\"set-cookie, x\",no-cache,must-revalidate,"
               "proxy-revalidate,no-transform,x-unknown=\"a,b\",other");
    assert_int_equal(cc.flags, SHMC_CC_NO_STORE | SHMC_CC_PRIVATE |
                                   SHMC_CC_NO_CACHE |
                                   SHMC_CC_MUST_REVALIDATE |
                                   SHMC_CC_PROXY_REVALIDATE |
                                   SHMC_CC_NO_TRANSFORM);
    assert_true(cc.max_age == -1 && cc.s_maxage == -1 &&
                cc.stale_while_revalidate == -1 && cc.stale_if_error == -1);
    assert_int_equal(cc_of("max-age=5, max-age=10").max_age, 5);
    assert_int_equal(cc_of("max-age=99999999999999999999").max_age,
                     2147483648ll);
    assert_int_equal(cc_of("").flags, 0);
    assert_int_equal(cc_of(" , ,max-age=0").max_age, 0);
    static const char *bad[] = {"max-age=abc", "max-age", "max-age=",
                                "max-age=-1", "public private",
                                "x=\"unterminated", "=5", "max-age=1;"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        shmc_cache_control c;
        if (shmc_http_cache_control_parse(bad[i], strlen(bad[i]), &c) !=
            SHMC_EINVAL)
            fail_msg("Cache-Control '%s' accepted", bad[i]);
        assert_true(c.flags == 0 && c.max_age == -1);
    }
}

static void test_cache_control_format_round_trips(void **state)
{
    (void)state;
    shmc_cache_control cc = {SHMC_CC_PUBLIC | SHMC_CC_NO_TRANSFORM, 60, -1,
                             30, 0};
    char buf[160];
    tu_assert_rc(shmc_http_cache_control_format(&cc, buf, sizeof buf), 0);
    assert_string_equal(buf, "public, no-transform, max-age=60, "
                             "stale-while-revalidate=30, stale-if-error=0");
    shmc_cache_control back = cc_of(buf);
    assert_true(back.flags == cc.flags && back.max_age == cc.max_age &&
                back.s_maxage == cc.s_maxage &&
                back.stale_while_revalidate == cc.stale_while_revalidate &&
                back.stale_if_error == cc.stale_if_error);
    size_t need = strlen(buf) + 1;
    for (size_t size = 0; size < need; size++)
        tu_assert_rc(shmc_http_cache_control_format(&cc, buf, size),
                     SHMC_EBUFSMALL);
    tu_assert_rc(shmc_http_cache_control_format(&cc, buf, need), 0);
    shmc_cache_control none = {0, -1, -1, -1, -1};
    tu_assert_rc(shmc_http_cache_control_format(&none, buf, 1), 0);
    assert_string_equal(buf, "");
}

static void test_cache_policy(void **state)
{
    (void)state;
    shmc_set_opts set;
    uint64_t sie;
    assert_int_equal(shmc_http_cache_policy(
                         &(shmc_cache_control){0, 60, -1, 30, 600}, &set,
                         &sie),
                     1);
    assert_true(set.ttl_ms == 60000 && set.stale_ms == 30000 &&
                sie == 600000);
    assert_int_equal(shmc_http_cache_policy(
                         &(shmc_cache_control){0, 60, 10, 30, -1}, &set,
                         NULL),
                     1);
    assert_int_equal(set.ttl_ms, 10000);
    shmc_cache_control strict = {SHMC_CC_MUST_REVALIDATE, 60, -1, 30, -1};
    assert_int_equal(shmc_http_cache_policy(&strict, &set, NULL), 1);
    assert_int_equal(set.stale_ms, 0);
    unsigned never[] = {SHMC_CC_NO_STORE, SHMC_CC_PRIVATE};
    for (size_t i = 0; i < 2; i++) {
        shmc_cache_control cc = {never[i], 60, -1, 30, -1};
        assert_int_equal(shmc_http_cache_policy(&cc, &set, NULL), 0);
        assert_true(set.ttl_ms == 0 && set.stale_ms == 0);
    }
    assert_int_equal(shmc_http_cache_policy(
                         &(shmc_cache_control){0, -1, -1, 30, -1}, &set,
                         NULL),
                     0);
    assert_int_equal(shmc_http_cache_policy(
                         &(shmc_cache_control){0, 0, -1, 30, -1}, &set,
                         NULL),
                     0);
}

static void key(const char *method, const char *host, const char *target,
                char *out, size_t *prefix)
{
    int rc = shmc_http_key(method, host, target, out, 256, prefix);
    if (rc)
        fail_msg("%s %s %s: %s", method, host, target, shmc_last_error());
}

static void test_keys(void **state)
{
    (void)state;
    char a[256], b[256];
    size_t pa, pb;
    key("get", "Example.COM:8080", "/r?b=2&a=1&&a=%7e%2f", a, &pa);
    assert_string_equal(a, "http:example.com:8080/r?a=1&a=~%2F&b=2 GET");
    assert_int_equal(pa, strlen("http:example.com:8080/r?"));
    key("GET", "example.com:8080", "/r?a=~%2f&b=2&a=1", b, &pb);
    assert_string_equal(a, b);
    key("GET", "h", "/report/1", a, &pa);
    key("GET", "h", "/report/10", b, &pb);
    assert_true(strncmp(b, a, pa) != 0); /* /report/1? never starts it */
    key("HEAD", "h", "/report/1?x=1", b, &pb);
    assert_int_equal(pa, pb);
    assert_memory_equal(a, b, pa); /* one path's variants share it */
    const char *differ[][3] = {{"GET", "h", "/a"}, {"POST", "h", "/a"},
                               {"GET", "g", "/a"}, {"GET", "h", "/b"},
                               {"GET", "h", "/a?x"}, {"GET", "h", "/a?x="}};
    for (size_t i = 0; i < 6; i++)
        for (size_t j = i + 1; j < 6; j++) {
            key(differ[i][0], differ[i][1], differ[i][2], a, NULL);
            key(differ[j][0], differ[j][1], differ[j][2], b, NULL);
            if (strcmp(a, b) == 0)
                fail_msg("%s and %s collide", differ[i][2], differ[j][2]);
        }
    static const char *bad_targets[] = {"", "report", "/a b", "/a#f",
                                        "/a?%zz", "/a?%4", "/\x01"};
    for (size_t i = 0; i < sizeof bad_targets / sizeof bad_targets[0]; i++)
        tu_assert_rc(shmc_http_key("GET", "h", bad_targets[i], a, sizeof a,
                                   NULL),
                     SHMC_EINVAL);
    tu_assert_rc(shmc_http_key("G T", "h", "/", a, sizeof a, NULL),
                 SHMC_EINVAL);
    tu_assert_rc(shmc_http_key("GET", "h/x", "/", a, sizeof a, NULL),
                 SHMC_EINVAL);
    tu_assert_rc(shmc_http_key("GET", "", "/", a, sizeof a, NULL),
                 SHMC_EINVAL);
    key("GET", "h", "/p?b&a", a, NULL);
    size_t need = strlen(a) + 1;
    for (size_t size = 0; size < need; size++)
        tu_assert_rc(shmc_http_key("GET", "h", "/p?b&a", b, size, NULL),
                     SHMC_EBUFSMALL);
    static char many[4096];
    size_t n = (size_t)snprintf(many, sizeof many, "/p?");
    for (int i = 0; i < 257; i++)
        n += (size_t)snprintf(many + n, sizeof many - n, "a&");
    tu_assert_rc(shmc_http_key("GET", "h", many, a, sizeof a, NULL),
                 SHMC_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_etags),
        cmocka_unit_test(test_if_none_match),
        cmocka_unit_test(test_cache_control_parse),
        cmocka_unit_test(test_cache_control_format_round_trips),
        cmocka_unit_test(test_cache_policy),
        cmocka_unit_test(test_keys),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
