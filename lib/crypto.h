/* crypto.h - what the cache does with secrets, through OpenSSL's EVP:
 * AES-256-GCM for values, HMAC-SHA256 for keys and messages, fingerprints
 * that let processes check they hold the same secret without storing it,
 * and the reading of key files. */
#ifndef SHMC_CRYPTO_H
#define SHMC_CRYPTO_H

#include <stddef.h>

#define SHMC__AEAD_KEY_LEN 32
#define SHMC__AEAD_NONCE_LEN 12
#define SHMC__AEAD_TAG_LEN 16
#define SHMC__AEAD_OVERHEAD (SHMC__AEAD_NONCE_LEN + SHMC__AEAD_TAG_LEN)
#define SHMC__HMAC_LEN 32

/* AES-256-GCM. Seal len bytes of plain into out (len + SHMC__AEAD_OVERHEAD
 * bytes) as nonce || ciphertext || tag, with a fresh random 96-bit nonce,
 * authenticating aad too (aad may be NULL when aad_len is 0); out must not
 * overlap plain. Random nonces are safe for one key up to about 2^32
 * seals. Returns 0 or SHMC_EINTERNAL (with the detail in
 * shmc_last_error()). */
int shmc__aead_seal(const unsigned char key[SHMC__AEAD_KEY_LEN],
                    const void *aad, size_t aad_len, const void *plain,
                    size_t len, void *out);

/* shmc__aead_seal with the nonce given: for known-answer tests only, since
 * a nonce used twice with one key gives both plaintexts away. */
int shmc__aead_seal_with_nonce(const unsigned char key[SHMC__AEAD_KEY_LEN],
                               const unsigned char nonce[SHMC__AEAD_NONCE_LEN],
                               const void *aad, size_t aad_len,
                               const void *plain, size_t len, void *out);

/* Open in_len bytes (nonce || ciphertext || tag) into out
 * (in_len - SHMC__AEAD_OVERHEAD bytes, not overlapping in), checking them
 * and aad. Returns 0;
 * SHMC_ECORRUPT when in_len is too short or authentication fails (wrong
 * key, or a changed nonce, ciphertext, tag or aad), and out is then
 * zeroed: unauthenticated plaintext never reaches the caller;
 * SHMC_EINTERNAL. */
int shmc__aead_open(const unsigned char key[SHMC__AEAD_KEY_LEN],
                    const void *aad, size_t aad_len, const void *in,
                    size_t in_len, void *out);

/* One piece of a message given in pieces. */
struct shmc__part {
    const void *data;
    size_t len;
};

/* HMAC-SHA256 under key (key_len bytes, any length, 0 included) of the
 * concatenation of the n parts. Returns 0 or SHMC_EINTERNAL. */
int shmc__hmac_sha256(const void *key, size_t key_len,
                      const struct shmc__part *parts, size_t n,
                      unsigned char out[SHMC__HMAC_LEN]);

/* Make the calling thread's HMAC context forget its last key (it keeps a
 * copy until given another). shmc__fingerprint does it itself. */
void shmc__hmac_forget(void);

/* What may be stored in the instance about a secret, never the secret
 * itself: HMAC-SHA256(secret, "shmcache fingerprint\0" || purpose), so
 * fingerprints of one secret for two purposes differ. purpose is a
 * string. Returns 0 or SHMC_EINTERNAL. */
int shmc__fingerprint(const void *secret, size_t len, const char *purpose,
                      unsigned char out[SHMC__HMAC_LEN]);

/* Read a 32-byte key from the file at path: 32 raw bytes, or 64 hex digits
 * with an optional trailing newline. The file must be a regular file (not
 * a symlink) owned by the caller (or the caller is root) and neither
 * readable nor writable by group or others. Returns 0; SHMC_EUNSAFE when
 * the file breaks one of those rules; SHMC_EINVAL for any other length or
 * content, or a file that is not a regular one; -errno when it cannot be
 * opened or read. On failure out is zeroed, and shmc_last_error() names
 * the path and the reason, never the bytes. */
int shmc__key_file_read(const char *path, unsigned char out[32]);

#endif
