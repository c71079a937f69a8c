/* crypto.c - see crypto.h. */
#include "crypto.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/rand.h>

#include "errors.h"
#include "shmcache.h"

#define KEY_FILE_RAW_LEN 32u
#define KEY_FILE_HEX_LEN 64u

/* ---- algorithms and per-thread state ----------------------------------- */

/* Fetched once: naming an algorithm per call (EVP_aes_256_gcm() and the
 * like) makes OpenSSL 3 look it up in its provider store every time, a
 * quarter of the cost of sealing and opening 64 bytes. Never freed: they
 * live as long as the process may still call in. */
static EVP_CIPHER *aes_gcm;
static EVP_MAC *hmac;
static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static pthread_key_t hmac_ctx_key; /* its destructor frees a thread's */

/* An HMAC context per thread, its digest already set: setting the digest
 * looks it up, which made an HMAC of a short key cost twice as much. A
 * cipher context per call costs nothing measurable, so those are not
 * kept. */
static _Thread_local EVP_MAC_CTX *thread_hmac_ctx;

static void free_hmac_ctx(void *ctx)
{
    EVP_MAC_CTX_free(ctx);
    /* Another library's thread-exit destructor may still call in. */
    thread_hmac_ctx = NULL;
}

static void init(void)
{
    aes_gcm = EVP_CIPHER_fetch(NULL, "AES-256-GCM", NULL);
    hmac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    pthread_key_create(&hmac_ctx_key, free_hmac_ctx);
}

/* SHMC_EINTERNAL for a failed OpenSSL call, with OpenSSL's reason; empties
 * this thread's OpenSSL error queue so that the reason of a later failure
 * is not this one's. */
static int openssl_fail(const char *what)
{
    unsigned long e = ERR_peek_last_error();
    const char *reason = e ? ERR_reason_error_string(e) : NULL;
    int rc = shmc__fail(SHMC_EINTERNAL, "%s: %s", what,
                        reason ? reason : "OpenSSL failed");
    ERR_clear_error();
    return rc;
}

static EVP_MAC_CTX *hmac_ctx_of_thread(void)
{
    if (thread_hmac_ctx)
        return thread_hmac_ctx;
    pthread_once(&init_once, init);
    if (!hmac)
        return NULL;
    EVP_MAC_CTX *ctx = EVP_MAC_CTX_new(hmac);
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, "SHA256", 0),
        OSSL_PARAM_construct_end(),
    };
    if (!ctx || !EVP_MAC_CTX_set_params(ctx, params)) {
        EVP_MAC_CTX_free(ctx);
        return NULL;
    }
    thread_hmac_ctx = ctx;
    pthread_setspecific(hmac_ctx_key, ctx);
    return ctx;
}

/* ---- AES-256-GCM -------------------------------------------------------- */

/* EVP_CipherUpdate over len bytes, which may exceed what its int length
 * holds. out NULL feeds additional authenticated data. GCM is a stream
 * mode: each call writes as many bytes as it reads. */
static int cipher_update(EVP_CIPHER_CTX *ctx, unsigned char *out,
                         const unsigned char *in, size_t len)
{
    while (len > 0) {
        int n = len > INT_MAX ? INT_MAX : (int)len;
        int written;
        if (!EVP_CipherUpdate(ctx, out, &written, in, n))
            return 0;
        in += n;
        if (out)
            out += n;
        len -= (size_t)n;
    }
    return 1;
}

/* A cipher context started for AES-256-GCM under key and nonce (enc 1 to
 * seal, 0 to open) with aad fed in, or NULL (OpenSSL's error queue says
 * why). */
static EVP_CIPHER_CTX *gcm_start(const unsigned char *key,
                                 const unsigned char *nonce, int enc,
                                 const void *aad, size_t aad_len)
{
    pthread_once(&init_once, init);
    if (!aes_gcm)
        return NULL;
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    if (ctx && EVP_CipherInit_ex2(ctx, aes_gcm, key, nonce, enc, NULL) &&
        cipher_update(ctx, NULL, aad, aad_len))
        return ctx;
    EVP_CIPHER_CTX_free(ctx);
    return NULL;
}

int shmc__aead_seal_with_nonce(const unsigned char key[SHMC__AEAD_KEY_LEN],
                               const unsigned char nonce[SHMC__AEAD_NONCE_LEN],
                               const void *aad, size_t aad_len,
                               const void *plain, size_t len, void *out)
{
    unsigned char *nonce_out = out;
    unsigned char *cipher_out = nonce_out + SHMC__AEAD_NONCE_LEN;
    unsigned char *tag_out = cipher_out + len;
    EVP_CIPHER_CTX *ctx = gcm_start(key, nonce, 1, aad, aad_len);
    int final_len;
    int ok = ctx && cipher_update(ctx, cipher_out, plain, len) &&
             EVP_CipherFinal_ex(ctx, tag_out, &final_len) &&
             EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG,
                                 SHMC__AEAD_TAG_LEN, tag_out);
    EVP_CIPHER_CTX_free(ctx);
    if (!ok)
        return openssl_fail("AES-256-GCM seal");
    memcpy(nonce_out, nonce, SHMC__AEAD_NONCE_LEN);
    return 0;
}

int shmc__aead_seal(const unsigned char key[SHMC__AEAD_KEY_LEN],
                    const void *aad, size_t aad_len, const void *plain,
                    size_t len, void *out)
{
    unsigned char nonce[SHMC__AEAD_NONCE_LEN];
    if (RAND_bytes(nonce, sizeof nonce) != 1)
        return openssl_fail("random nonce");
    return shmc__aead_seal_with_nonce(key, nonce, aad, aad_len, plain, len,
                                      out);
}

int shmc__aead_open(const unsigned char key[SHMC__AEAD_KEY_LEN],
                    const void *aad, size_t aad_len, const void *in,
                    size_t in_len, void *out)
{
    if (in_len < SHMC__AEAD_OVERHEAD)
        return shmc__fail(SHMC_ECORRUPT,
                          "sealed value: %zu bytes, fewer than a nonce and "
                          "a tag",
                          in_len);
    size_t len = in_len - SHMC__AEAD_OVERHEAD;
    const unsigned char *nonce = in;
    const unsigned char *cipher = nonce + SHMC__AEAD_NONCE_LEN;
    /* A copy: EVP_CIPHER_CTX_ctrl takes a non-const pointer. */
    unsigned char tag[SHMC__AEAD_TAG_LEN];
    memcpy(tag, cipher + len, sizeof tag);

    EVP_CIPHER_CTX *ctx = gcm_start(key, nonce, 0, aad, aad_len);
    int ok = ctx && cipher_update(ctx, out, cipher, len) &&
             EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, sizeof tag, tag);
    int final_len;
    int authentic = ok && EVP_CipherFinal_ex(ctx, out, &final_len) == 1;
    EVP_CIPHER_CTX_free(ctx);
    if (authentic)
        return 0;
    OPENSSL_cleanse(out, len);
    if (!ok)
        return openssl_fail("AES-256-GCM open");
    ERR_clear_error();
    return shmc__fail(SHMC_ECORRUPT,
                      "sealed value: authentication failed (another key, "
                      "or damaged)");
}

/* ---- HMAC-SHA256 and fingerprints ---------------------------------------- */

int shmc__hmac_sha256(const void *key, size_t key_len,
                      const struct shmc__part *parts, size_t n,
                      unsigned char out[SHMC__HMAC_LEN])
{
    EVP_MAC_CTX *ctx = hmac_ctx_of_thread();
    /* EVP_MAC_init takes a NULL key to mean the previous call's key. */
    int ok = ctx && EVP_MAC_init(ctx, key ? key : (const void *)"", key_len,
                                 NULL);
    for (size_t i = 0; ok && i < n; i++)
        ok = EVP_MAC_update(ctx, parts[i].data, parts[i].len);
    size_t out_len = 0;
    ok = ok && EVP_MAC_final(ctx, out, &out_len, SHMC__HMAC_LEN) &&
         out_len == SHMC__HMAC_LEN;
    return ok ? 0 : openssl_fail("HMAC-SHA256");
}

int shmc__fingerprint(const void *secret, size_t len, const char *purpose,
                      unsigned char out[SHMC__HMAC_LEN])
{
    static const char label[] = "shmcache fingerprint"; /* with its '\0' */
    const struct shmc__part parts[] = {
        {label, sizeof label},
        {purpose, strlen(purpose)},
    };
    int rc = shmc__hmac_sha256(secret, len, parts, 2, out);
    shmc__hmac_forget();
    return rc;
}

void shmc__hmac_forget(void)
{
    /* OpenSSL keeps the last key in the context until it gets another. */
    if (thread_hmac_ctx)
        EVP_MAC_init(thread_hmac_ctx, (const void *)"", 0, NULL);
}

/* ---- key files ------------------------------------------------------------ */

/* -errno for a key file's failed system call, errno being set. */
static int errno_fail(const char *path)
{
    int err = errno;
    return shmc__fail(-err, "key file %s: %s", path, shmc_strerror(-err));
}

/* 0 if the open file fd may hold a key: a regular file of the caller's
 * (any file for root) that group and others can neither read nor write. */
static int key_file_check(int fd, const char *path)
{
    struct stat st;
    if (fstat(fd, &st) != 0)
        return errno_fail(path);
    if (!S_ISREG(st.st_mode))
        return shmc__fail(SHMC_EINVAL, "key file %s: not a regular file",
                          path);
    uid_t me = geteuid();
    if (me != 0 && st.st_uid != me)
        return shmc__fail(SHMC_EUNSAFE,
                          "key file %s: owned by uid %u, not by the caller "
                          "(uid %u)",
                          path, (unsigned)st.st_uid, (unsigned)me);
    if (st.st_mode & (S_IRGRP | S_IWGRP | S_IROTH | S_IWOTH))
        return shmc__fail(SHMC_EUNSAFE,
                          "key file %s: mode %04o lets group or others read "
                          "or write it (chmod 600)",
                          path, (unsigned)(st.st_mode & 07777));
    return 0;
}

/* Decode KEY_FILE_HEX_LEN hex digits into out; 0 on a non-hex digit. */
static int hex_decode(const unsigned char *hex, unsigned char *out)
{
    for (size_t i = 0; i < KEY_FILE_HEX_LEN / 2; i++) {
        int hi = OPENSSL_hexchar2int(hex[2 * i]);
        int lo = OPENSSL_hexchar2int(hex[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return 0;
        out[i] = (unsigned char)(hi << 4 | lo);
    }
    return 1;
}

/* Read at most cap bytes of fd into buf; *n says how many came. */
static int read_up_to(int fd, const char *path, unsigned char *buf,
                      size_t cap, size_t *n)
{
    *n = 0;
    while (*n < cap) {
        ssize_t got = read(fd, buf + *n, cap - *n);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0)
            return errno_fail(path);
        if (got == 0)
            break;
        *n += (size_t)got;
    }
    return 0;
}

/* The key in the n bytes of a key file read into buf, which holds one
 * byte more than the longest form (so n == cap means a longer file). */
static int key_decode(const unsigned char *buf, size_t n, size_t cap,
                      const char *path, unsigned char *out)
{
    if (n == KEY_FILE_RAW_LEN) {
        memcpy(out, buf, KEY_FILE_RAW_LEN);
        return 0;
    }
    int hex = n == KEY_FILE_HEX_LEN ||
              (n == KEY_FILE_HEX_LEN + 1 && buf[KEY_FILE_HEX_LEN] == '\n');
    if (!hex && n == cap)
        return shmc__fail(SHMC_EINVAL,
                          "key file %s: over %zu bytes, where a key is 32 "
                          "raw bytes or 64 hex digits and a newline",
                          path, cap - 1);
    if (!hex)
        return shmc__fail(SHMC_EINVAL,
                          "key file %s: %zu bytes, where a key is 32 raw "
                          "bytes or 64 hex digits and a newline",
                          path, n);
    if (!hex_decode(buf, out))
        return shmc__fail(SHMC_EINVAL,
                          "key file %s: 64 characters, not all hex digits",
                          path);
    return 0;
}

static int key_file_parse(int fd, const char *path, unsigned char *out)
{
    unsigned char buf[KEY_FILE_HEX_LEN + 2];
    size_t n;
    int rc = read_up_to(fd, path, buf, sizeof buf, &n);
    if (rc == 0)
        rc = key_decode(buf, n, sizeof buf, path, out);
    OPENSSL_cleanse(buf, sizeof buf);
    return rc;
}

int shmc__key_file_read(const char *path, unsigned char out[32])
{
    /* O_NONBLOCK: a FIFO planted at path must not hang the open; it is
     * then refused as not a regular file. */
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC |
                            O_NOCTTY);
    int rc;
    if (fd < 0 && errno == ELOOP)
        rc = shmc__fail(SHMC_EUNSAFE,
                        "key file %s: a symlink (name the file itself)",
                        path);
    else if (fd < 0)
        rc = errno_fail(path);
    else
        rc = key_file_check(fd, path);
    if (rc == 0)
        rc = key_file_parse(fd, path, out);
    if (fd >= 0)
        close(fd);
    if (rc)
        OPENSSL_cleanse(out, 32);
    return rc;
}
