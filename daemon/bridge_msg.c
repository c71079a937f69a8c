/* bridge_msg.c - see bridge_msg.h. */
#include "bridge_msg.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <string.h>

static const unsigned char magic[4] = {'S', 'H', 'R', 'V'};
#define MSG_VERSION 1u

static void put_u64(unsigned char *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--, v >>= 8)
        p[i] = (unsigned char)v;
}

static uint64_t get_u64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | p[i];
    return v;
}

static int origin_ok(const char *origin, size_t len)
{
    if (len == 0 || len > BRIDGE_MSG_MAX_ORIGIN)
        return 0;
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)origin[i] <= ' ' || (unsigned char)origin[i] > '~')
            return 0;
    return 1;
}

/* The rules the encoder and the decoder share; NULL when m keeps them. */
static const char *check(const struct bridge_msg *m)
{
    if (m->kind < BRIDGE_KIND_KEY || m->kind > BRIDGE_KIND_FLUSH)
        return "unknown kind";
    if (m->key_form > 1)
        return "unknown key form";
    if (!origin_ok(m->origin, m->origin_len))
        return "origin not 1 to 64 printable characters";
    if (m->seq == 0)
        return "sequence 0";
    if (m->kind == BRIDGE_KIND_FLUSH ? m->key_len != 0
                                     : m->key_len == 0 ||
                                           m->key_len > BRIDGE_MSG_MAX_KEY)
        return "key length does not suit the kind";
    return NULL;
}

static int mac(const unsigned char *secret, size_t secret_len,
               const unsigned char *data, size_t len,
               unsigned char out[BRIDGE_MSG_MAC_LEN])
{
    unsigned int out_len = 0;
    return HMAC(EVP_sha256(), secret, (int)secret_len, data, len, out,
                &out_len) != NULL &&
           out_len == BRIDGE_MSG_MAC_LEN;
}

size_t bridge_msg_encode(const struct bridge_msg *m,
                         const unsigned char *secret, size_t secret_len,
                         unsigned char *out, size_t outsize)
{
    if (check(m))
        return 0;
    size_t body = BRIDGE_MSG_HEADER_LEN + m->origin_len + BRIDGE_MSG_FIXED_LEN +
                  m->key_len;
    if (outsize < body + BRIDGE_MSG_MAC_LEN)
        return 0;
    unsigned char *p = out;
    memcpy(p, magic, sizeof magic);
    p[4] = MSG_VERSION;
    p[5] = (unsigned char)m->kind;
    p[6] = (unsigned char)m->key_form;
    p[7] = (unsigned char)m->origin_len;
    p += BRIDGE_MSG_HEADER_LEN;
    memcpy(p, m->origin, m->origin_len);
    p += m->origin_len;
    put_u64(p, m->incarnation);
    put_u64(p + 8, m->seq);
    put_u64(p + 16, m->time_ms);
    memcpy(p + 24, m->keyspace, 8);
    p += 32;
    for (int i = 3; i >= 0; i--)
        p[3 - i] = (unsigned char)(m->key_len >> (8 * i));
    p += 4;
    if (m->key_len)
        memcpy(p, m->key, m->key_len);
    if (!mac(secret, secret_len, out, body, out + body))
        return 0;
    return body + BRIDGE_MSG_MAC_LEN;
}

static int fail(char *why, size_t whysize, const char *reason)
{
    if (whysize)
        snprintf(why, whysize, "%s", reason);
    return -1;
}

int bridge_msg_decode(const void *buf, size_t len, struct bridge_msg *m,
                      char *why, size_t whysize)
{
    const unsigned char *b = buf;
    memset(m, 0, sizeof *m);
    if (len < BRIDGE_MSG_HEADER_LEN || memcmp(b, magic, sizeof magic) != 0)
        return fail(why, whysize, "not a revocation message");
    if (b[4] != MSG_VERSION)
        return fail(why, whysize, "message of another version");
    m->kind = b[5];
    m->key_form = b[6];
    m->origin_len = b[7];
    size_t fixed_end = BRIDGE_MSG_HEADER_LEN + m->origin_len + BRIDGE_MSG_FIXED_LEN;
    if (len < fixed_end + BRIDGE_MSG_MAC_LEN)
        return fail(why, whysize, "truncated");
    m->origin = (const char *)b + BRIDGE_MSG_HEADER_LEN;
    const unsigned char *p = b + BRIDGE_MSG_HEADER_LEN + m->origin_len;
    m->incarnation = get_u64(p);
    m->seq = get_u64(p + 8);
    m->time_ms = get_u64(p + 16);
    memcpy(m->keyspace, p + 24, 8);
    p += 32;
    uint64_t klen = (uint64_t)p[0] << 24 | (uint64_t)p[1] << 16 |
                    (uint64_t)p[2] << 8 | p[3];
    if (klen != len - fixed_end - BRIDGE_MSG_MAC_LEN)
        return fail(why, whysize, "key length does not match the size");
    m->key_len = (size_t)klen;
    m->key = klen ? b + fixed_end : NULL;
    const char *broken = check(m);
    return broken ? fail(why, whysize, broken) : 0;
}

int bridge_msg_verify(const void *buf, size_t len,
                      const unsigned char *secret, size_t secret_len)
{
    unsigned char expected[BRIDGE_MSG_MAC_LEN];
    if (len < BRIDGE_MSG_MAC_LEN)
        return 0;
    size_t body = len - BRIDGE_MSG_MAC_LEN;
    return mac(secret, secret_len, buf, body, expected) &&
           CRYPTO_memcmp(expected, (const unsigned char *)buf + body,
                         BRIDGE_MSG_MAC_LEN) == 0;
}
