/* test_bridge_msg.c - the bridge's message codec and its Redis URL parser
 * (daemon/bridge_msg.c, daemon/redis_url.c): round trips, the signature,
 * and every malformed input refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "bridge_msg.h"
#include "redis_url.h"

static const unsigned char secret[] = "a bridge secret of 32 bytes ....";
#define SECRET_LEN (sizeof secret - 1)

static struct bridge_msg sample(unsigned kind)
{
    static const unsigned char key[] = "user:42:token";
    struct bridge_msg m = {
        .kind = kind,
        .origin = "web-01",
        .origin_len = 6,
        .incarnation = 0x0102030405060708ull,
        .seq = 77,
        .time_ms = 1795482692440ull,
        .keyspace = {9, 8, 7, 6, 5, 4, 3, 2},
        .key = kind == BRIDGE_KIND_FLUSH ? NULL : key,
        .key_len = kind == BRIDGE_KIND_FLUSH ? 0 : sizeof key - 1,
    };
    return m;
}

static size_t encode(const struct bridge_msg *m, unsigned char *buf)
{
    return bridge_msg_encode(m, secret, SECRET_LEN, buf, BRIDGE_MSG_MAX_LEN);
}

static void test_round_trips_every_kind_and_form(void **state)
{
    (void)state;
    static unsigned char buf[BRIDGE_MSG_MAX_LEN];
    for (unsigned kind = BRIDGE_KIND_KEY; kind <= BRIDGE_KIND_FLUSH; kind++)
        for (unsigned form = 0; form <= 1; form++) {
            struct bridge_msg m = sample(kind), d;
            m.key_form = form;
            size_t n = encode(&m, buf);
            assert_int_equal(n, 8 + 6 + BRIDGE_MSG_FIXED_LEN + m.key_len +
                                    BRIDGE_MSG_MAC_LEN);
            assert_int_equal(bridge_msg_decode(buf, n, &d, NULL, 0), 0);
            assert_int_equal(d.kind, kind);
            assert_int_equal(d.key_form, form);
            assert_int_equal(d.origin_len, 6);
            assert_memory_equal(d.origin, "web-01", 6);
            assert_true(d.incarnation == m.incarnation && d.seq == 77 &&
                        d.time_ms == m.time_ms);
            assert_memory_equal(d.keyspace, m.keyspace, 8);
            assert_int_equal(d.key_len, m.key_len);
            if (m.key_len)
                assert_memory_equal(d.key, m.key, m.key_len);
            assert_true(bridge_msg_verify(buf, n, secret, SECRET_LEN));
        }
}

/* The signature is HMAC-SHA256 of everything before it, as computed here
 * by OpenSSL directly. */
static void test_signature_is_hmac_sha256_of_the_rest(void **state)
{
    (void)state;
    static unsigned char buf[BRIDGE_MSG_MAX_LEN];
    struct bridge_msg m = sample(BRIDGE_KIND_KEY);
    size_t n = encode(&m, buf);
    unsigned char mac[32];
    unsigned int mac_len;
    assert_non_null(HMAC(EVP_sha256(), secret, (int)SECRET_LEN, buf, n - 32,
                         mac, &mac_len));
    assert_memory_equal(buf + n - 32, mac, 32);
    assert_memory_equal(buf, "SHRV\x01\x01\x00\x06web-01", 14);
}

/* Any byte changed: the message no longer decodes, or no longer verifies. */
static void test_every_byte_flip_is_caught(void **state)
{
    (void)state;
    static unsigned char buf[BRIDGE_MSG_MAX_LEN];
    struct bridge_msg m = sample(BRIDGE_KIND_PREFIX), d;
    size_t n = encode(&m, buf);
    for (size_t i = 0; i < n; i++)
        for (unsigned bit = 0; bit < 8; bit++) {
            buf[i] ^= (unsigned char)(1u << bit);
            int caught = bridge_msg_decode(buf, n, &d, NULL, 0) != 0 ||
                         !bridge_msg_verify(buf, n, secret, SECRET_LEN);
            buf[i] ^= (unsigned char)(1u << bit);
            if (!caught)
                fail_msg("bit %u of byte %zu flipped went unnoticed", bit, i);
        }
    assert_false(bridge_msg_verify(buf, n, (const unsigned char *)"other", 5));
}

static void test_every_truncation_and_extension_refused(void **state)
{
    (void)state;
    static unsigned char buf[BRIDGE_MSG_MAX_LEN + 1];
    struct bridge_msg m = sample(BRIDGE_KIND_KEY), d;
    char why[64];
    size_t n = encode(&m, buf);
    for (size_t len = 0; len < n; len++) {
        why[0] = '\0';
        assert_int_equal(bridge_msg_decode(buf, len, &d, why, sizeof why), -1);
        assert_true(why[0] != '\0');
    }
    buf[n] = 0;
    assert_int_equal(bridge_msg_decode(buf, n + 1, &d, NULL, 0), -1);
    assert_false(bridge_msg_verify(buf, 31, secret, SECRET_LEN));
}

/* Messages that break one rule each, signed properly so that only the rule
 * can refuse them. Built by hand: the encoder refuses them too. */
static void test_each_rule_refused(void **state)
{
    (void)state;
    static unsigned char good[BRIDGE_MSG_MAX_LEN], bad[BRIDGE_MSG_MAX_LEN];
    struct bridge_msg m = sample(BRIDGE_KIND_KEY), d;
    size_t n = encode(&m, good);
    const size_t origin_at = 8, fields_at = 8 + 6, klen_at = fields_at + 32;
    struct {
        const char *what;
        size_t at;
        unsigned char value;
    } cases[] = {
        {"magic", 0, 'X'},          {"version 2", 4, 2},
        {"kind 0", 5, 0},           {"kind 4", 5, 4},
        {"form 2", 6, 2},           {"origin length 0", 7, 0},
        {"origin length 65", 7, 65}, {"blank in origin", origin_at + 1, ' '},
        {"DEL in origin", origin_at, 0x7f},
        {"flush with a key", 5, BRIDGE_KIND_FLUSH},
        {"key length", klen_at + 3, 14},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        memcpy(bad, good, n);
        bad[cases[i].at] = cases[i].value;
        if (bridge_msg_decode(bad, n, &d, NULL, 0) == 0)
            fail_msg("%s: accepted", cases[i].what);
    }
    /* Sequence 0. */
    memcpy(bad, good, n);
    memset(bad + fields_at + 8, 0, 8);
    assert_int_equal(bridge_msg_decode(bad, n, &d, NULL, 0), -1);
}

static void test_encoder_refuses_what_the_decoder_would(void **state)
{
    (void)state;
    static unsigned char buf[BRIDGE_MSG_MAX_LEN];
    struct bridge_msg m = sample(BRIDGE_KIND_KEY);
    size_t need = encode(&m, buf);
    assert_true(need > 0);
    assert_int_equal(bridge_msg_encode(&m, secret, SECRET_LEN, buf, need - 1),
                     0);
    struct bridge_msg bad = m;
    bad.seq = 0;
    assert_int_equal(encode(&bad, buf), 0);
    bad = m;
    bad.key_len = 0;
    assert_int_equal(encode(&bad, buf), 0);
    bad = m;
    bad.key_len = BRIDGE_MSG_MAX_KEY + 1;
    assert_int_equal(encode(&bad, buf), 0);
    bad = sample(BRIDGE_KIND_FLUSH);
    bad.key_len = 1;
    assert_int_equal(encode(&bad, buf), 0);
    bad = m;
    bad.origin = "web 01";
    assert_int_equal(encode(&bad, buf), 0);
    bad = m;
    bad.kind = 9;
    assert_int_equal(encode(&bad, buf), 0);
    /* The largest message fits BRIDGE_MSG_MAX_LEN. */
    static unsigned char key[BRIDGE_MSG_MAX_KEY];
    char origin[BRIDGE_MSG_MAX_ORIGIN];
    memset(origin, 'o', sizeof origin);
    bad = m;
    bad.key = key;
    bad.key_len = sizeof key;
    bad.origin = origin;
    bad.origin_len = sizeof origin;
    assert_int_equal(encode(&bad, buf), BRIDGE_MSG_MAX_LEN);
}

/* ---- URLs ----------------------------------------------------------- */

static void test_good_urls(void **state)
{
    (void)state;
    struct {
        const char *url;
        int is_unix;
        const char *host;
        unsigned port, db;
        const char *user, *password, *path;
        int has_password;
    } cases[] = {
        {"redis://127.0.0.1", 0, "127.0.0.1", 6379, 0, "", "", "", 0},
        {"redis://cache.example:6380/3", 0, "cache.example", 6380, 3, "", "",
         "", 0},
        {"redis://:pw@localhost", 0, "localhost", 6379, 0, "", "pw", "", 1},
        {"redis://alice:s3cr%40t%3A@h:1/65535", 0, "h", 1, 65535, "alice",
         "s3cr@t:", "", 1},
        {"redis://a:b@c@host", 0, "host", 6379, 0, "a", "b@c", "", 1},
        {"redis://[::1]:7000/0", 0, "::1", 7000, 0, "", "", "", 0},
        {"unix:///run/redis/redis.sock", 1, "", 6379, 0, "", "",
         "/run/redis/redis.sock", 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct redis_url u;
        char why[128];
        if (redis_url_parse(cases[i].url, &u, why, sizeof why) != 0)
            fail_msg("%s: %s", cases[i].url, why);
        assert_int_equal(u.is_unix, cases[i].is_unix);
        assert_string_equal(u.host, cases[i].host);
        assert_int_equal(u.port, cases[i].port);
        assert_int_equal(u.db, cases[i].db);
        assert_string_equal(u.user, cases[i].user);
        assert_string_equal(u.password, cases[i].password);
        assert_string_equal(u.path, cases[i].path);
        assert_int_equal(u.has_password, cases[i].has_password);
        char text[1100];
        redis_url_describe(&u, text, sizeof text);
        if (u.password[0] && strstr(text, u.password))
            fail_msg("%s described with its password: %s", cases[i].url,
                     text);
    }
}

static void test_bad_urls(void **state)
{
    (void)state;
    static const char *bad[] = {
        "", "localhost:6379", "http://localhost", "redis://",
        "redis://:6379", "redis://host:0", "redis://host:65536",
        "redis://host:12a", "redis://host:", "redis://host/",
        "redis://host/65536", "redis://host/1x", "redis://ho st",
        "redis://user@host", "redis://u:%zz@host", "redis://u:%0@host",
        "redis://u:%00@host", "redis://[::1", "redis://[]:1",
        "redis://[::g]", "unix://relative.sock", "unix://",
        "unix:///with space", "redis://host:6379x",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct redis_url u;
        char why[128] = "";
        if (redis_url_parse(bad[i], &u, why, sizeof why) == 0)
            fail_msg("'%s' accepted", bad[i]);
        assert_true(why[0] != '\0');
    }
    char long_url[REDIS_URL_MAX_LEN + 16] = "redis://";
    memset(long_url + 8, 'h', REDIS_URL_MAX_LEN);
    long_url[REDIS_URL_MAX_LEN + 8] = '\0';
    struct redis_url u;
    assert_int_equal(redis_url_parse(long_url, &u, NULL, 0), -1);
    assert_int_equal(redis_url_parse(NULL, &u, NULL, 0), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trips_every_kind_and_form),
        cmocka_unit_test(test_signature_is_hmac_sha256_of_the_rest),
        cmocka_unit_test(test_every_byte_flip_is_caught),
        cmocka_unit_test(test_every_truncation_and_extension_refused),
        cmocka_unit_test(test_each_rule_refused),
        cmocka_unit_test(test_encoder_refuses_what_the_decoder_would),
        cmocka_unit_test(test_good_urls),
        cmocka_unit_test(test_bad_urls),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
