/* bridge_msg.h - a revocation as it travels between hosts: the value of
 * field "m" of a Redis stream entry. Pure: no I/O, no state, so that it can
 * be fed anything (tests/fuzz_bridge.c).
 *
 * Layout, integers big-endian:
 *   0   4  magic "SHRV"
 *   4   1  version, 1
 *   5   1  kind: 1 key, 2 prefix, 3 everything (SHMC_REVOKE_*)
 *   6   1  key form: 0 the application's key, 1 its stored form under a
 *          key secret
 *   7   1  origin length n, 1..64
 *   8   n  origin host id, bytes '!'..'~'
 *       8  incarnation of the origin's outbox
 *       8  sequence, from 1
 *       8  wall-clock ms at the origin when revoked
 *       8  keyspace: the origin's key-secret fingerprint, zeros without
 *       4  key length k: 0 for everything, 1..65535 otherwise
 *       k  key
 *      32  HMAC-SHA256 of every byte before it under the bridge secret
 * Nothing follows. */
#ifndef SHMCD_BRIDGE_MSG_H
#define SHMCD_BRIDGE_MSG_H

#include <stddef.h>
#include <stdint.h>

#define BRIDGE_MSG_MAX_ORIGIN 64u
#define BRIDGE_MSG_MAX_KEY 65535u
#define BRIDGE_MSG_MAC_LEN 32u
/* Magic, version, kind, form, origin length. */
#define BRIDGE_MSG_HEADER_LEN 8u
/* Incarnation, sequence, time, keyspace, key length. */
#define BRIDGE_MSG_FIXED_LEN (8u + 8u + 8u + 8u + 4u)
#define BRIDGE_MSG_MAX_LEN                                                  \
    (BRIDGE_MSG_HEADER_LEN + BRIDGE_MSG_MAX_ORIGIN + BRIDGE_MSG_FIXED_LEN +  \
     BRIDGE_MSG_MAX_KEY + BRIDGE_MSG_MAC_LEN)

enum bridge_kind {
    BRIDGE_KIND_KEY = 1,
    BRIDGE_KIND_PREFIX = 2,
    BRIDGE_KIND_FLUSH = 3,
};

struct bridge_msg {
    unsigned kind;
    unsigned key_form;
    const char *origin; /* origin_len bytes, not NUL-terminated */
    size_t origin_len;
    uint64_t incarnation, seq, time_ms;
    unsigned char keyspace[8];
    const unsigned char *key; /* key_len bytes */
    size_t key_len;
};

/* Encode m, signed with secret, into out (outsize bytes). Returns the
 * length, or 0 when m breaks the layout's rules or does not fit. */
size_t bridge_msg_encode(const struct bridge_msg *m,
                         const unsigned char *secret, size_t secret_len,
                         unsigned char *out, size_t outsize);

/* Decode len bytes of buf into *m, whose pointers then point into buf.
 * Returns 0, or -1 with a short reason in why (whysize bytes; may be 0)
 * when the bytes are not a well-formed message of this version. The
 * signature is not checked: see bridge_msg_verify. */
int bridge_msg_decode(const void *buf, size_t len, struct bridge_msg *m,
                      char *why, size_t whysize);

/* 1 when the last 32 bytes of buf are the HMAC of the others under secret
 * (compared in constant time), else 0. */
int bridge_msg_verify(const void *buf, size_t len,
                      const unsigned char *secret, size_t secret_len);

#endif
