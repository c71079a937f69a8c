/* test_crypto.c - lib/crypto.c: AES-256-GCM against the GCM specification's
 * vectors and against every single-bit change, HMAC-SHA256 against RFC
 * 4231, fingerprints, and the rules a key file must meet before its bytes
 * are trusted. */
#include "testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/securebits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "crypto.h"

#define CHILD_TIMEOUT_S 20

/* ---- helpers --------------------------------------------------------------- */

/* Decode the hex string into out (room for cap bytes); returns the length. */
static size_t unhex(const char *hex, unsigned char *out, size_t cap)
{
    size_t len = strlen(hex) / 2;
    assert_true(len <= cap);
    for (size_t i = 0; i < len; i++) {
        unsigned byte;
        assert_int_equal(sscanf(hex + 2 * i, "%2x", &byte), 1);
        out[i] = (unsigned char)byte;
    }
    return len;
}

static void assert_all_zero(const unsigned char *p, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (p[i])
            fail_msg("byte %zu of %zu is %#x, not zero", i, len, p[i]);
}

static const unsigned char key_a[SHMC__AEAD_KEY_LEN] = {
    0x60, 0x3d, 0xeb, 0x10, 0x15, 0xca, 0x71, 0xbe, 0x2b, 0x73, 0xae,
    0xf0, 0x85, 0x7d, 0x77, 0x81, 0x1f, 0x35, 0x2c, 0x07, 0x3b, 0x61,
    0x08, 0xd7, 0x2d, 0x98, 0x10, 0xa3, 0x09, 0x14, 0xdf, 0xf4,
};

/* A sealed copy of plain (len bytes) under key_a and aad, in memory of
 * exactly its size. */
static unsigned char *sealed(const void *aad, size_t aad_len,
                             const void *plain, size_t len)
{
    unsigned char *out = malloc(len + SHMC__AEAD_OVERHEAD);
    assert_non_null(out);
    tu_assert_rc(shmc__aead_seal(key_a, aad, aad_len, plain, len, out), 0);
    return out;
}

/* shmc__aead_open under key into a buffer of exactly the plaintext's size,
 * filled beforehand so that a failure's zeroing shows; the result is
 * compared with want (want_len bytes) when it succeeds, and must be all
 * zero when it fails. Returns the return code. */
static int open_checked(const unsigned char *key, const void *aad,
                        size_t aad_len, const unsigned char *in, size_t in_len,
                        const void *want)
{
    size_t len = in_len >= SHMC__AEAD_OVERHEAD ? in_len - SHMC__AEAD_OVERHEAD
                                                : 0;
    unsigned char *out = malloc(len ? len : 1);
    assert_non_null(out);
    memset(out, 0xee, len);
    int rc = shmc__aead_open(key, aad, aad_len, in, in_len, out);
    if (rc == 0 && memcmp(out, want, len) != 0)
        fail_msg("%zu bytes opened to something else", len);
    if (rc == SHMC_ECORRUPT && in_len >= SHMC__AEAD_OVERHEAD)
        assert_all_zero(out, len);
    free(out);
    return rc;
}

/* ---- AES-256-GCM ----------------------------------------------------------- */

static void seal_then_open_round_trips(void **state)
{
    (void)state;
    const size_t sizes[] = {0, 1, 15, 16, 17, 64, 1000, 16 * 1024};
    const char aad[] = "entry key";
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        size_t len = sizes[i];
        unsigned char *plain = malloc(len ? len : 1);
        assert_non_null(plain);
        for (size_t j = 0; j < len; j++)
            plain[j] = (unsigned char)(j * 7 + 1);
        size_t in_len = len + SHMC__AEAD_OVERHEAD;

        unsigned char *with_aad = sealed(aad, sizeof aad, plain, len);
        if (len >= 16)
            assert_memory_not_equal(with_aad + SHMC__AEAD_NONCE_LEN, plain,
                                    16);
        tu_assert_rc(open_checked(key_a, aad, sizeof aad, with_aad, in_len,
                                  plain),
                     0);
        unsigned char *without = sealed(NULL, 0, plain, len);
        tu_assert_rc(open_checked(key_a, NULL, 0, without, in_len, plain), 0);
        tu_assert_rc(open_checked(key_a, "", 0, without, in_len, plain), 0);
        free(without);
        free(with_aad);
        free(plain);
    }
}

struct gcm_vector {
    const char *name, *key, *nonce, *aad, *plain, *cipher, *tag;
};

/* From "The Galois/Counter Mode of Operation (GCM)", McGrew and Viega,
 * the AES-256 test cases with a 96-bit IV. */
static const struct gcm_vector gcm_vectors[] = {
    {"test case 13: nothing to encrypt",
     "0000000000000000000000000000000000000000000000000000000000000000",
     "000000000000000000000000", "", "", "",
     "530f8afbc74536b9a963b4f1c4cb738b"},
    {"test case 14: one block of zeros",
     "0000000000000000000000000000000000000000000000000000000000000000",
     "000000000000000000000000", "", "00000000000000000000000000000000",
     "cea7403d4d606b6e074ec5d3baf39d18", "d0d1c8a799996bf0265b98b5d48ab919"},
    {"test case 16: a partial last block and aad",
     "feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308",
     "cafebabefacedbaddecaf888", "feedfacedeadbeeffeedfacedeadbeefabaddad2",
     "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
     "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39",
     "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa"
     "8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662",
     "76fc6ece0f4e1768cddf8853bb2d551b"},
};

static void gcm_specification_vectors(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof gcm_vectors / sizeof gcm_vectors[0]; i++) {
        const struct gcm_vector *v = &gcm_vectors[i];
        unsigned char key[SHMC__AEAD_KEY_LEN], nonce[SHMC__AEAD_NONCE_LEN];
        unsigned char aad[64], plain[64], want[128], out[128];
        assert_int_equal(unhex(v->key, key, sizeof key), sizeof key);
        assert_int_equal(unhex(v->nonce, nonce, sizeof nonce), sizeof nonce);
        size_t aad_len = unhex(v->aad, aad, sizeof aad);
        size_t len = unhex(v->plain, plain, sizeof plain);
        /* What the seal must write: nonce || ciphertext || tag. */
        memcpy(want, nonce, sizeof nonce);
        assert_int_equal(unhex(v->cipher, want + sizeof nonce, len), len);
        assert_int_equal(unhex(v->tag, want + sizeof nonce + len,
                               SHMC__AEAD_TAG_LEN),
                         SHMC__AEAD_TAG_LEN);
        size_t in_len = len + SHMC__AEAD_OVERHEAD;

        tu_assert_rc(shmc__aead_seal_with_nonce(key, nonce, aad, aad_len,
                                                plain, len, out),
                     0);
        if (memcmp(out, want, in_len) != 0)
            fail_msg("%s: the sealed bytes differ from the vector", v->name);
        tu_assert_rc(open_checked(key, aad, aad_len, want, in_len, plain), 0);
    }
}

static void another_key_is_refused(void **state)
{
    (void)state;
    const char plain[] = "a value only the key's holders may read";
    unsigned char *in = sealed(NULL, 0, plain, sizeof plain);
    size_t in_len = sizeof plain + SHMC__AEAD_OVERHEAD;
    for (size_t bit = 0; bit < SHMC__AEAD_KEY_LEN * 8; bit += 37) {
        unsigned char other[SHMC__AEAD_KEY_LEN];
        memcpy(other, key_a, sizeof other);
        other[bit / 8] ^= (unsigned char)(1u << bit % 8);
        tu_assert_rc(open_checked(other, NULL, 0, in, in_len, plain),
                     SHMC_ECORRUPT);
    }
    assert_non_null(strstr(shmc_last_error(), "authentication"));
    free(in);
}

/* Every single-bit change of the sealed bytes (nonce, ciphertext or tag)
 * and of the aad is refused; so is aad cut short, made longer or left
 * out. */
static void every_changed_bit_is_refused(void **state)
{
    (void)state;
    unsigned char plain[64];
    unsigned char aad[20];
    for (size_t i = 0; i < sizeof plain; i++)
        plain[i] = (unsigned char)i;
    for (size_t i = 0; i < sizeof aad; i++)
        aad[i] = (unsigned char)(0xa0 + i);
    unsigned char *in = sealed(aad, sizeof aad, plain, sizeof plain);
    size_t in_len = sizeof plain + SHMC__AEAD_OVERHEAD;

    for (size_t bit = 0; bit < in_len * 8; bit++) {
        in[bit / 8] ^= (unsigned char)(1u << bit % 8);
        int rc = open_checked(key_a, aad, sizeof aad, in, in_len, plain);
        in[bit / 8] ^= (unsigned char)(1u << bit % 8);
        if (rc != SHMC_ECORRUPT)
            fail_msg("bit %zu of the sealed bytes changed: %s", bit,
                     shmc_err_name(rc));
    }
    for (size_t bit = 0; bit < sizeof aad * 8; bit++) {
        aad[bit / 8] ^= (unsigned char)(1u << bit % 8);
        int rc = open_checked(key_a, aad, sizeof aad, in, in_len, plain);
        aad[bit / 8] ^= (unsigned char)(1u << bit % 8);
        if (rc != SHMC_ECORRUPT)
            fail_msg("bit %zu of the aad changed: %s", bit, shmc_err_name(rc));
    }
    unsigned char longer[sizeof aad + 1];
    memcpy(longer, aad, sizeof aad);
    longer[sizeof aad] = 0;
    tu_assert_rc(open_checked(key_a, aad, sizeof aad - 1, in, in_len, plain),
                 SHMC_ECORRUPT);
    tu_assert_rc(open_checked(key_a, longer, sizeof longer, in, in_len, plain),
                 SHMC_ECORRUPT);
    tu_assert_rc(open_checked(key_a, NULL, 0, in, in_len, plain),
                 SHMC_ECORRUPT);
    /* The control: unchanged, it opens. */
    tu_assert_rc(open_checked(key_a, aad, sizeof aad, in, in_len, plain), 0);
    free(in);
}

static void short_input_is_refused(void **state)
{
    (void)state;
    unsigned char *empty = sealed(NULL, 0, "", 0);
    for (size_t len = 0; len < SHMC__AEAD_OVERHEAD; len++) {
        /* A copy of exactly len bytes: a read past them is seen. */
        unsigned char *part = malloc(len ? len : 1);
        assert_non_null(part);
        memcpy(part, empty, len);
        tu_assert_rc(open_checked(key_a, NULL, 0, part, len, NULL),
                     SHMC_ECORRUPT);
        free(part);
    }
    assert_non_null(strstr(shmc_last_error(), "27 bytes"));
    tu_assert_rc(open_checked(key_a, NULL, 0, empty, SHMC__AEAD_OVERHEAD, ""),
                 0);
    unsigned char zeros[SHMC__AEAD_OVERHEAD] = {0};
    tu_assert_rc(open_checked(key_a, NULL, 0, zeros, sizeof zeros, ""),
                 SHMC_ECORRUPT);
    free(empty);
}

static int compare_nonces(const void *a, const void *b)
{
    return memcmp(a, b, SHMC__AEAD_NONCE_LEN);
}

static void every_seal_has_its_own_nonce(void **state)
{
    (void)state;
    enum { SEALS = 1000 };
    const char plain[] = "the same value every time";
    unsigned char(*nonces)[SHMC__AEAD_NONCE_LEN] =
        malloc(SEALS * sizeof *nonces);
    unsigned char *first = sealed(NULL, 0, plain, sizeof plain);
    assert_non_null(nonces);
    for (int i = 0; i < SEALS; i++) {
        unsigned char *s = sealed(NULL, 0, plain, sizeof plain);
        memcpy(nonces[i], s, SHMC__AEAD_NONCE_LEN);
        if (i == 0)
            assert_memory_not_equal(s + SHMC__AEAD_NONCE_LEN,
                                    first + SHMC__AEAD_NONCE_LEN,
                                    sizeof plain);
        free(s);
    }
    qsort(nonces, SEALS, sizeof *nonces, compare_nonces);
    for (int i = 1; i < SEALS; i++)
        if (memcmp(nonces[i - 1], nonces[i], SHMC__AEAD_NONCE_LEN) == 0)
            fail_msg("two of %d seals used the same nonce", SEALS);
    free(first);
    free(nonces);
}

/* ---- HMAC-SHA256 and fingerprints -------------------------------------------- */

static void assert_hmac(const void *key, size_t key_len,
                        const struct shmc__part *parts, size_t n,
                        const char *want_hex)
{
    unsigned char want[SHMC__HMAC_LEN], got[SHMC__HMAC_LEN];
    assert_int_equal(unhex(want_hex, want, sizeof want), sizeof want);
    tu_assert_rc(shmc__hmac_sha256(key, key_len, parts, n, got), 0);
    assert_memory_equal(got, want, sizeof want);
}

static void hmac_matches_rfc_4231(void **state)
{
    (void)state;
    static const char tc2[] =
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843";
    const char *data = "what do ya want for nothing?";
    size_t len = strlen(data);

    /* Test case 2, as one part, then cut in two at every place, then with
     * empty parts around it. */
    assert_hmac("Jefe", 4, &(struct shmc__part){data, len}, 1, tc2);
    for (size_t cut = 0; cut <= len; cut++) {
        const struct shmc__part two[] = {{data, cut},
                                         {data + cut, len - cut}};
        assert_hmac("Jefe", 4, two, 2, tc2);
    }
    const struct shmc__part padded[] = {
        {NULL, 0}, {data, 10}, {"", 0}, {data + 10, len - 10}, {NULL, 0}};
    assert_hmac("Jefe", 4, padded, 5, tc2);

    /* Test case 1, and test case 6, whose key is longer than a block.
     * Each after another key: the per-thread context keeps no key. */
    unsigned char tc1_key[20], tc6_key[131];
    memset(tc1_key, 0x0b, sizeof tc1_key);
    memset(tc6_key, 0xaa, sizeof tc6_key);
    assert_hmac(tc1_key, sizeof tc1_key,
                &(struct shmc__part){"Hi There", 8}, 1,
                "b0344c61d8db38535ca8afceaf0bf12b"
                "881dc200c9833da726e9376c2e32cff7");
    const char *tc6 = "Test Using Larger Than Block-Size Key - Hash Key First";
    assert_hmac(tc6_key, sizeof tc6_key,
                &(struct shmc__part){tc6, strlen(tc6)}, 1,
                "60e431591ee0b67f0d8a26aacbf5b77f"
                "8e0bc6213728c5140546040f0ee37f54");
    assert_hmac("Jefe", 4, &(struct shmc__part){data, len}, 1, tc2);
}

static void hmac_takes_an_empty_key(void **state)
{
    (void)state;
    static const char empty_empty[] =
        "b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad";
    /* A NULL key right after a real one: EVP_MAC_init would keep the
     * old key. */
    const char *data = "what do ya want for nothing?";
    assert_hmac("Jefe", 4, &(struct shmc__part){data, strlen(data)}, 1,
                "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    assert_hmac(NULL, 0, NULL, 0, empty_empty);
    assert_hmac("", 0, &(struct shmc__part){"", 0}, 1, empty_empty);
}

static void fingerprint(const char *secret, const char *purpose,
                        unsigned char out[SHMC__HMAC_LEN])
{
    tu_assert_rc(shmc__fingerprint(secret, strlen(secret), purpose, out), 0);
}

static void fingerprints_differ_by_secret_and_purpose(void **state)
{
    (void)state;
    unsigned char a_keys[SHMC__HMAC_LEN], a_values[SHMC__HMAC_LEN];
    unsigned char b_keys[SHMC__HMAC_LEN], again[SHMC__HMAC_LEN];
    fingerprint("secret a", "keys", a_keys);
    fingerprint("secret a", "values", a_values);
    fingerprint("secret b", "keys", b_keys);
    fingerprint("secret a", "keys", again);
    assert_memory_not_equal(a_keys, a_values, SHMC__HMAC_LEN);
    assert_memory_not_equal(a_keys, b_keys, SHMC__HMAC_LEN);
    assert_memory_equal(a_keys, again, SHMC__HMAC_LEN);

    /* What it is, computed another way: HMAC(secret, label '\0' purpose). */
    static const char message[] = "shmcache fingerprint\0keys";
    unsigned char want[SHMC__HMAC_LEN];
    unsigned int want_len = 0;
    assert_non_null(HMAC(EVP_sha256(), "secret a", 8,
                         (const unsigned char *)message, sizeof message - 1,
                         want, &want_len));
    assert_int_equal(want_len, SHMC__HMAC_LEN);
    assert_memory_equal(a_keys, want, SHMC__HMAC_LEN);
}

struct hmac_job {
    unsigned index;
    unsigned rounds;
    unsigned char want[SHMC__HMAC_LEN]; /* computed by the test's thread */
    struct tu_failures failures;
};

static const struct shmc__part thread_message = {"message", 7};

static void thread_key(unsigned index, unsigned char key[16])
{
    memset(key, (int)index + 1, 16);
}

/* Each thread's HMAC context is its own, and freed when it exits:
 * valgrind's leak check sees it if it is not. */
static void *hmac_in_thread(void *arg)
{
    struct hmac_job *job = arg;
    unsigned char key[16], out[SHMC__HMAC_LEN];
    thread_key(job->index, key);
    for (unsigned r = 0; r < job->rounds; r++) {
        int rc = shmc__hmac_sha256(key, sizeof key, &thread_message, 1, out);
        if (rc != 0 || memcmp(out, job->want, sizeof out) != 0) {
            tu_note_failure(&job->failures, "thread %u, round %u: %s %s",
                            job->index, r, rc ? shmc_err_name(rc) : "",
                            rc ? shmc_last_error() : "another digest");
            break;
        }
    }
    return NULL;
}

static void threads_hmac_at_once(void **state)
{
    (void)state;
    enum { THREADS = 4 };
    pthread_t threads[THREADS];
    struct hmac_job jobs[THREADS];
    for (unsigned i = 0; i < THREADS; i++) {
        unsigned char key[16];
        jobs[i] = (struct hmac_job){.index = i, .rounds = tu_scaled(2000)};
        thread_key(i, key);
        tu_assert_rc(shmc__hmac_sha256(key, sizeof key, &thread_message, 1,
                                       jobs[i].want),
                     0);
    }
    for (unsigned i = 0; i < THREADS; i++)
        tu_start_thread(&threads[i], hmac_in_thread, &jobs[i]);
    for (unsigned i = 0; i < THREADS; i++) {
        tu_join_thread(threads[i]);
        tu_assert_no_failure(&jobs[i].failures, "an HMAC thread");
    }
    assert_memory_not_equal(jobs[0].want, jobs[1].want, SHMC__HMAC_LEN);
}

/* ---- key files ------------------------------------------------------------------ */

static const char key_hex[] =
    "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

/* Write len bytes to a new file name in d with exactly mode; returns its
 * path in path (cap bytes). */
static void write_file(const struct tu_dir *d, const char *name,
                       const void *bytes, size_t len, mode_t mode, char *path,
                       size_t cap)
{
    snprintf(path, cap, "%s/%s", d->root, name);
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, bytes, len), (ssize_t)len);
    assert_int_equal(fchmod(fd, mode), 0);
    assert_int_equal(close(fd), 0);
}

/* shmc__key_file_read into a buffer filled beforehand, so that a failure's
 * zeroing shows; returns the return code, after checking that a failure
 * zeroed the buffer and named the path. */
static int read_key(const char *path, unsigned char out[32])
{
    memset(out, 0xee, 32);
    int rc = shmc__key_file_read(path, out);
    if (rc != 0) {
        assert_all_zero(out, 32);
        if (!strstr(shmc_last_error(), path))
            fail_msg("the message does not name %s: %s", path,
                     shmc_last_error());
    }
    return rc;
}

static void key_files_in_both_forms_are_read(void **state)
{
    const struct tu_dir *d = *state;
    unsigned char want[32], got[32];
    char path[512];
    unhex(key_hex, want, sizeof want);

    write_file(d, "raw", want, sizeof want, 0600, path, sizeof path);
    tu_assert_rc(read_key(path, got), 0);
    assert_memory_equal(got, want, 32);

    char text[80];
    snprintf(text, sizeof text, "%s\n", key_hex);
    write_file(d, "hex-newline", text, 65, 0600, path, sizeof path);
    tu_assert_rc(read_key(path, got), 0);
    assert_memory_equal(got, want, 32);

    for (size_t i = 0; i < 64; i++)
        text[i] = (char)(key_hex[i] >= 'a' ? key_hex[i] - 'a' + 'A'
                                           : key_hex[i]);
    write_file(d, "hex-upper", text, 64, 0400, path, sizeof path);
    tu_assert_rc(read_key(path, got), 0);
    assert_memory_equal(got, want, 32);

    /* A raw key may hold any byte, a newline at the end included. */
    want[31] = '\n';
    write_file(d, "raw-newline", want, sizeof want, 0600, path, sizeof path);
    tu_assert_rc(read_key(path, got), 0);
    assert_memory_equal(got, want, 32);
}

static void key_files_of_other_lengths_are_refused(void **state)
{
    const struct tu_dir *d = *state;
    unsigned char got[32];
    char path[512], name[32], content[200];
    memset(content, '7', sizeof content);
    const size_t lengths[] = {0, 1, 31, 33, 63, 66, 67, 129, sizeof content};
    for (size_t i = 0; i < sizeof lengths / sizeof lengths[0]; i++) {
        snprintf(name, sizeof name, "length-%zu", lengths[i]);
        write_file(d, name, content, lengths[i], 0600, path, sizeof path);
        tu_assert_rc(read_key(path, got), SHMC_EINVAL);
    }
    /* 64 digits followed by something other than one newline. */
    const char *tails[] = {"\r", "x", "\n\n", " \n", "\r\n"};
    for (size_t i = 0; i < sizeof tails / sizeof tails[0]; i++) {
        snprintf(name, sizeof name, "tail-%zu", i);
        snprintf(content, sizeof content, "%s%s", key_hex, tails[i]);
        write_file(d, name, content, strlen(content), 0600, path,
                   sizeof path);
        tu_assert_rc(read_key(path, got), SHMC_EINVAL);
    }
}

static void key_files_with_a_non_hex_digit_are_refused(void **state)
{
    const struct tu_dir *d = *state;
    unsigned char got[32];
    char path[512], name[32], content[80];
    const size_t places[] = {0, 1, 31, 62, 63};
    const char bad[] = {'g', ' ', ':', 'x', '\n'};
    for (size_t i = 0; i < sizeof places / sizeof places[0]; i++) {
        snprintf(name, sizeof name, "bad-hex-%zu", i);
        snprintf(content, sizeof content, "%s\n", key_hex);
        content[places[i]] = bad[i];
        write_file(d, name, content, 65, 0600, path, sizeof path);
        tu_assert_rc(read_key(path, got), SHMC_EINVAL);
        /* The message says what is wrong, never what the file holds. */
        if (strstr(shmc_last_error(), "0405060708"))
            fail_msg("the message shows the key: %s", shmc_last_error());
    }
}

static void key_files_others_can_reach_are_refused(void **state)
{
    const struct tu_dir *d = *state;
    unsigned char key[32], got[32];
    char path[512], name[32];
    unhex(key_hex, key, sizeof key);
    const mode_t unsafe[] = {0644, 0640, 0604, 0620, 0602, 0666};
    for (size_t i = 0; i < sizeof unsafe / sizeof unsafe[0]; i++) {
        snprintf(name, sizeof name, "mode-%04o", (unsigned)unsafe[i]);
        write_file(d, name, key, sizeof key, unsafe[i], path, sizeof path);
        tu_assert_rc(read_key(path, got), SHMC_EUNSAFE);
        assert_non_null(strstr(shmc_last_error(), "mode"));
    }
    /* Execute bits let nobody read or change the key. */
    write_file(d, "mode-0711", key, sizeof key, 0711, path, sizeof path);
    tu_assert_rc(read_key(path, got), 0);
}

/* Exit status of the child that reads the FIFO at path as a key file. */
static int read_fifo(const char *path)
{
    unsigned char got[32];
    int rc = shmc__key_file_read(path, got);
    if (rc == SHMC_EINVAL)
        return 0;
    fprintf(stderr, "reading a FIFO as a key file: %s (%s)\n",
            shmc_err_name(rc), shmc_last_error());
    return 1;
}

static void symlinks_and_odd_files_are_refused(void **state)
{
    const struct tu_dir *d = *state;
    unsigned char key[32], got[32];
    char path[512], link[512];
    unhex(key_hex, key, sizeof key);
    write_file(d, "target", key, sizeof key, 0600, path, sizeof path);
    snprintf(link, sizeof link, "%s/link", d->root);
    assert_int_equal(symlink(path, link), 0);
    tu_assert_rc(read_key(link, got), SHMC_EUNSAFE);
    assert_non_null(strstr(shmc_last_error(), "symlink"));

    snprintf(path, sizeof path, "%s/missing", d->root);
    tu_assert_rc(read_key(path, got), -ENOENT);

    snprintf(path, sizeof path, "%s/directory", d->root);
    assert_int_equal(mkdir(path, 0700), 0);
    tu_assert_rc(read_key(path, got), SHMC_EINVAL);

    /* A FIFO with no writer: refused at once, not waited on (in a child,
     * so that a wait fails the test instead of hanging it). */
    snprintf(path, sizeof path, "%s/fifo", d->root);
    assert_int_equal(mkfifo(path, 0600), 0);
    pid_t pid = tu_fork();
    if (pid == 0)
        _exit(read_fifo(path));
    assert_int_equal(tu_wait_child(pid, CHILD_TIMEOUT_S), 0);
}

#define NOBODY 65534

static void root_reads_a_key_file_of_another_user(void **state)
{
    const struct tu_dir *d = *state;
    if (geteuid() != 0)
        skip();
    unsigned char key[32], got[32];
    char path[512];
    unhex(key_hex, key, sizeof key);
    write_file(d, "nobodys", key, sizeof key, 0600, path, sizeof path);
    assert_int_equal(chown(path, NOBODY, NOBODY), 0);
    tu_assert_rc(read_key(path, got), 0);
    assert_memory_equal(got, key, 32);
}

/* In a child that becomes the user nobody but keeps root's capabilities
 * (SECBIT_NO_SETUID_FIXUP), so that it can open a file of root's mode
 * 0600: the file is not the caller's, and must be refused. Exits 0 when
 * it is, 77 when the child cannot become such a user, 1 otherwise. */
static int read_as_another_user(const char *path)
{
    if (prctl(PR_SET_SECUREBITS, SECBIT_NO_SETUID_FIXUP, 0, 0, 0) != 0 ||
        setresuid(NOBODY, NOBODY, NOBODY) != 0)
        return 77;
    unsigned char got[32];
    int rc = shmc__key_file_read(path, got);
    if (rc == SHMC_EUNSAFE && strstr(shmc_last_error(), "owned by uid 0"))
        return 0;
    fprintf(stderr, "reading root's key file as uid %d: %s (%s)\n",
            (int)geteuid(), shmc_err_name(rc), shmc_last_error());
    return 1;
}

static void key_files_of_another_user_are_refused(void **state)
{
    const struct tu_dir *d = *state;
    if (geteuid() != 0)
        skip();
    unsigned char key[32];
    char path[512];
    unhex(key_hex, key, sizeof key);
    write_file(d, "roots", key, sizeof key, 0600, path, sizeof path);
    pid_t pid = tu_fork();
    if (pid == 0)
        _exit(read_as_another_user(path));
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    if (WEXITSTATUS(status) == 77)
        skip();
    assert_int_equal(WEXITSTATUS(status), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(seal_then_open_round_trips),
        cmocka_unit_test(gcm_specification_vectors),
        cmocka_unit_test(another_key_is_refused),
        cmocka_unit_test(every_changed_bit_is_refused),
        cmocka_unit_test(short_input_is_refused),
        cmocka_unit_test(every_seal_has_its_own_nonce),
        cmocka_unit_test(hmac_matches_rfc_4231),
        cmocka_unit_test(hmac_takes_an_empty_key),
        cmocka_unit_test(fingerprints_differ_by_secret_and_purpose),
        cmocka_unit_test(threads_hmac_at_once),
        tu_test_in_dir(key_files_in_both_forms_are_read),
        tu_test_in_dir(key_files_of_other_lengths_are_refused),
        tu_test_in_dir(key_files_with_a_non_hex_digit_are_refused),
        tu_test_in_dir(key_files_others_can_reach_are_refused),
        tu_test_in_dir(symlinks_and_odd_files_are_refused),
        tu_test_in_dir(root_reads_a_key_file_of_another_user),
        tu_test_in_dir(key_files_of_another_user_are_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
