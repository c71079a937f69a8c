/* test_compress.c - lib/compress.c: values come back byte for byte at every
 * size, a value is compressed only when that makes it smaller and fits,
 * and bytes that are not what the compressor wrote are refused without a
 * crash or a write outside the caller's buffer. */
#include "testutil.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zstd.h>

#include "compress.h"

#define LEVEL 3
/* Bytes after a decompression's buffer that must stay as they were. */
#define GUARD 64u
#define GUARD_BYTE 0xa5

/* ---- values ---------------------------------------------------------------- */

static uint64_t splitmix(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static unsigned char *random_bytes(size_t len, uint64_t seed)
{
    unsigned char *p = malloc(len ? len : 1);
    assert_non_null(p);
    for (size_t i = 0; i < len; i++)
        p[i] = (unsigned char)splitmix(&seed);
    return p;
}

/* Text with repeats, as a page fragment or a serialized object has. */
static unsigned char *text_bytes(size_t len, uint64_t seed)
{
    static const char *const words[] = {
        "cache ", "value ", "the ", "shared ", "memory ", "of ",
        "a ",     "key ",   "and ", "process ", "worker ", "entry ",
    };
    unsigned char *p = malloc(len ? len : 1);
    assert_non_null(p);
    size_t n = 0;
    while (n < len) {
        const char *w = words[splitmix(&seed) % 12];
        size_t wl = strlen(w);
        size_t take = wl < len - n ? wl : len - n;
        memcpy(p + n, w, take);
        n += take;
    }
    return p;
}

/* len bytes of a JSON array of user records, as an API response cached
 * whole would be: the keys repeat, the numbers and names vary. */
static unsigned char *json_bytes(size_t len)
{
    uint64_t seed = 42;
    char *p = malloc(len + 1);
    assert_non_null(p);
    size_t n = (size_t)snprintf(p, len + 1, "[");
    while (n < len) {
        uint64_t r = splitmix(&seed);
        n += (size_t)snprintf(
            p + n, len + 1 - n,
            "{\"id\":%u,\"user\":\"user-%u\",\"email\":\"user%u@example.com\","
            "\"active\":%s,\"score\":0.%02u,\"plan\":\"%s\","
            "\"tags\":[\"%s\",\"beta\"],\"created\":"
            "\"2024-%02u-%02uT%02u:%02u:%02uZ\"},",
            (unsigned)(r % 100000), (unsigned)(r >> 20) % 10000,
            (unsigned)(r >> 20) % 10000, (r >> 40) & 1 ? "true" : "false",
            (unsigned)(r >> 8) % 100, (r >> 41) & 1 ? "pro" : "free",
            (r >> 42) & 1 ? "alpha" : "gamma", (unsigned)(r >> 13) % 12 + 1,
            (unsigned)(r >> 17) % 28 + 1, (unsigned)(r >> 23) % 24,
            (unsigned)(r >> 29) % 60, (unsigned)(r >> 35) % 60);
    }
    return (unsigned char *)p;
}

/* The frame of src (len bytes), compressed with room to spare; *n is its
 * length, which the test expects to be non-zero. */
static unsigned char *frame_of(const void *src, size_t len, size_t *n)
{
    size_t cap = ZSTD_compressBound(len);
    unsigned char *frame = malloc(cap);
    assert_non_null(frame);
    *n = shmc__compress(src, len, frame, cap, LEVEL);
    assert_true(*n > 0);
    assert_true(*n < len);
    return frame;
}

/* shmc__decompress into a buffer of raw_len bytes followed by GUARD bytes
 * that must not change; the output is copied to out if out is not NULL. */
static int decompress_guarded(const void *frame, size_t n, size_t raw_len,
                              void *out)
{
    unsigned char *dst = malloc(raw_len + GUARD);
    assert_non_null(dst);
    memset(dst + raw_len, GUARD_BYTE, GUARD);
    int rc = shmc__decompress(frame, n, dst, raw_len);
    for (size_t i = 0; i < GUARD; i++)
        if (dst[raw_len + i] != GUARD_BYTE)
            fail_msg("decompression wrote %zu bytes past the value", i + 1);
    if (out)
        memcpy(out, dst, raw_len);
    free(dst);
    return rc;
}

/* ---- round trips ------------------------------------------------------------ */

/* Compress src with as much room as zstd may need; when it shrinks,
 * decompress into a buffer of exactly len bytes (so that the sanitizers
 * see any write past it) and compare. Returns the compressed length. */
static size_t round_trip(const unsigned char *src, size_t len, int level)
{
    size_t cap = ZSTD_compressBound(len);
    unsigned char *frame = malloc(cap);
    assert_non_null(frame);
    size_t n = shmc__compress(src, len, frame, cap, level);
    if (n >= len && len > 0)
        fail_msg("%zu bytes compressed to %zu, not smaller", len, n);
    if (n > 0) {
        unsigned char *back = malloc(len);
        assert_non_null(back);
        tu_assert_rc(shmc__decompress(frame, n, back, len), 0);
        if (memcmp(back, src, len) != 0)
            fail_msg("%zu bytes did not come back as they were", len);
        free(back);
    }
    free(frame);
    return n;
}

static void every_size_comes_back(void **state)
{
    (void)state;
    /* Every length up to 300, then both sides of each power of two up to
     * 1 MiB, where zstd's blocks (128 KiB) and tables change size. */
    size_t sizes[300 + 3 * 12 + 1];
    size_t count = 0;
    for (size_t len = 0; len < 300; len++)
        sizes[count++] = len;
    for (unsigned shift = 9; shift <= 20; shift++) {
        sizes[count++] = ((size_t)1 << shift) - 1;
        sizes[count++] = (size_t)1 << shift;
        sizes[count++] = ((size_t)1 << shift) + 1;
    }
    for (size_t i = 0; i < count; i++) {
        size_t len = sizes[i];
        unsigned char *text = text_bytes(len, len);
        size_t n = round_trip(text, len, LEVEL);
        /* Repetitive text shrinks once it is well past the frame's
         * overhead (about 100 bytes, for this text). */
        if (len >= 128 && n == 0)
            fail_msg("%zu bytes of text did not compress", len);
        free(text);
    }
    assert_int_equal(shmc__compress("", 0, (unsigned char[16]){0}, 16, LEVEL),
                     0);
}

static void half_random_values_come_back(void **state)
{
    (void)state;
    size_t len = 64 * 1024;
    unsigned char *v = text_bytes(len, 7);
    unsigned char *noise = random_bytes(len / 2, 8);
    memcpy(v + len / 4, noise, len / 2);
    assert_true(round_trip(v, len, LEVEL) > 0);
    free(noise);
    free(v);
}

static void every_level_comes_back(void **state)
{
    (void)state;
    size_t len = 16 * 1024;
    unsigned char *json = json_bytes(len);
    const int levels[] = {-5, 1, 3, 9, 19, ZSTD_maxCLevel()};
    for (size_t i = 0; i < sizeof levels / sizeof levels[0]; i++)
        if (round_trip(json, len, levels[i]) == 0)
            fail_msg("level %d did not compress JSON", levels[i]);
    free(json);
}

static void json_shrinks(void **state)
{
    (void)state;
    size_t len = 16 * 1024;
    unsigned char *json = json_bytes(len);
    size_t n = round_trip(json, len, LEVEL);
    print_message("16 KiB of JSON: %zu bytes compressed, ratio %.2f\n", n,
                  (double)len / (double)n);
    assert_true(n > 0);
    assert_true(n < len / 2);
    free(json);
}

/* ---- values that stay raw ---------------------------------------------------- */

static void random_bytes_stay_raw(void **state)
{
    (void)state;
    const size_t sizes[] = {1, 100, 4096, 16 * 1024, 1024 * 1024};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        size_t len = sizes[i];
        unsigned char *noise = random_bytes(len, len);
        size_t cap = ZSTD_compressBound(len);
        unsigned char *dst = malloc(cap);
        assert_non_null(dst);
        if (shmc__compress(noise, len, dst, cap, LEVEL) != 0)
            fail_msg("%zu random bytes were 'compressed'", len);
        free(dst);
        free(noise);
    }
}

/* zstd wants a few bytes of room beyond the frame it writes (compress.h):
 * with ROOM_SLACK more it writes the same frame; with less than the frame
 * it gives up. */
#define ROOM_SLACK 16u

static void a_small_room_keeps_the_value_raw(void **state)
{
    (void)state;
    size_t len = 16 * 1024;
    unsigned char *json = json_bytes(len);
    size_t n;
    unsigned char *frame = frame_of(json, len, &n);
    /* dst is exactly cap bytes: the sanitizers see a write past it. */
    unsigned char *roomy = malloc(n + ROOM_SLACK);
    assert_non_null(roomy);
    assert_int_equal(shmc__compress(json, len, roomy, n + ROOM_SLACK, LEVEL),
                     n);
    assert_memory_equal(roomy, frame, n);
    free(roomy);
    unsigned char *short_by_one = malloc(n - 1);
    assert_non_null(short_by_one);
    assert_int_equal(shmc__compress(json, len, short_by_one, n - 1, LEVEL), 0);
    assert_int_equal(shmc__compress(json, len, short_by_one, 1, LEVEL), 0);
    assert_int_equal(shmc__compress(json, len, NULL, 0, LEVEL), 0);
    free(short_by_one);
    free(frame);
    free(json);
}

/* ---- bytes the compressor did not write -------------------------------------- */

static void a_wrong_length_is_corrupt(void **state)
{
    (void)state;
    size_t len = 16 * 1024;
    unsigned char *json = json_bytes(len);
    size_t n;
    unsigned char *frame = frame_of(json, len, &n);
    const size_t wrong[] = {0, 1, len - 1, len + 1, 2 * len};
    for (size_t i = 0; i < sizeof wrong / sizeof wrong[0]; i++)
        tu_assert_rc(decompress_guarded(frame, n, wrong[i], NULL),
                     SHMC_ECORRUPT);
    assert_non_null(strstr(shmc_last_error(), "16384"));
    tu_assert_rc(decompress_guarded(frame, n, len, NULL), 0);
    free(frame);
    free(json);
}

static void a_truncated_frame_is_corrupt(void **state)
{
    (void)state;
    size_t len = 16 * 1024;
    unsigned char *json = json_bytes(len);
    size_t n;
    unsigned char *frame = frame_of(json, len, &n);
    for (size_t cut = 0; cut < n; cut++) {
        /* A copy of exactly cut bytes: a read past them is seen. */
        unsigned char *part = malloc(cut ? cut : 1);
        assert_non_null(part);
        memcpy(part, frame, cut);
        int rc = decompress_guarded(part, cut, len, NULL);
        if (rc != SHMC_ECORRUPT)
            fail_msg("the first %zu of %zu bytes gave %s", cut, n,
                     shmc_err_name(rc));
        free(part);
    }
    free(frame);
    free(json);
}

static void other_bytes_are_not_a_frame(void **state)
{
    (void)state;
    size_t len = 16 * 1024;
    unsigned char *json = json_bytes(len);
    unsigned char *noise = random_bytes(len, 3);
    tu_assert_rc(decompress_guarded(json, len, len, NULL), SHMC_ECORRUPT);
    tu_assert_rc(decompress_guarded(noise, len, len, NULL), SHMC_ECORRUPT);
    tu_assert_rc(decompress_guarded(noise, 0, 0, NULL), SHMC_ECORRUPT);

    /* A real frame, but one that does not say its size: streamed without
     * the size given first. */
    size_t cap = ZSTD_compressBound(len);
    unsigned char *frame = malloc(cap);
    assert_non_null(frame);
    ZSTD_CStream *zs = ZSTD_createCStream();
    assert_non_null(zs);
    assert_false(ZSTD_isError(ZSTD_initCStream(zs, LEVEL)));
    ZSTD_outBuffer out = {frame, cap, 0};
    ZSTD_inBuffer in = {json, len, 0};
    assert_false(ZSTD_isError(ZSTD_compressStream(zs, &out, &in)));
    assert_int_equal(ZSTD_endStream(zs, &out), 0);
    ZSTD_freeCStream(zs);
    assert_int_equal(ZSTD_getFrameContentSize(frame, out.pos),
                     ZSTD_CONTENTSIZE_UNKNOWN);
    tu_assert_rc(decompress_guarded(frame, out.pos, len, NULL),
                 SHMC_ECORRUPT);
    free(frame);
    free(noise);
    free(json);
}

/* Every single-bit change of a frame is refused (the frame carries zstd's
 * checksum of the value), without a crash or a write past the buffer,
 * unless the decoder never looks at that bit (the frame header's unused
 * one, some of an entropy table's description) and the value comes out
 * the same. */
static void a_damaged_frame_is_corrupt(void **state)
{
    (void)state;
    size_t len = 16 * 1024;
    unsigned char *json = json_bytes(len);
    size_t n;
    unsigned char *frame = frame_of(json, len, &n);
    unsigned char *back = malloc(len);
    assert_non_null(back);
    size_t step = tu_under_valgrind() ? 13 : 1;
    size_t tried = 0, same = 0;
    for (size_t bit = 0; bit < n * 8; bit += step) {
        frame[bit / 8] ^= (unsigned char)(1u << bit % 8);
        int rc = decompress_guarded(frame, n, len, back);
        frame[bit / 8] ^= (unsigned char)(1u << bit % 8);
        tried++;
        if (rc == 0 && memcmp(back, json, len) == 0)
            same++;
        else if (rc != SHMC_ECORRUPT)
            fail_msg("bit %zu of %zu changed: %s, and the value differs",
                     bit, n * 8, shmc_err_name(rc));
    }
    print_message("%zu single-bit changes of a %zu-byte frame: %zu refused, "
                  "%zu decoded to the same value\n",
                  tried, n, tried - same, same);
    free(back);
    free(frame);
    free(json);
}

/* ---- threads ------------------------------------------------------------------ */

struct thread_job {
    unsigned index;
    unsigned rounds;
    struct tu_failures failures;
};

/* Each thread's contexts are its own, and freed when it exits: valgrind's
 * leak check sees them if they are not. */
static void *compress_in_thread(void *arg)
{
    struct thread_job *job = arg;
    size_t len = 4096 + job->index * 1000;
    unsigned char *text = malloc(len);
    unsigned char *frame = malloc(ZSTD_compressBound(len));
    unsigned char *back = malloc(len);
    if (!text || !frame || !back) {
        tu_note_failure(&job->failures, "thread %u: out of memory",
                        job->index);
        goto out;
    }
    for (unsigned r = 0; r < job->rounds; r++) {
        for (size_t i = 0; i < len; i++)
            text[i] = (unsigned char)("abcdefgh"[(i * (r + 1)) % 8] + job->index);
        size_t n = shmc__compress(text, len, frame, ZSTD_compressBound(len),
                                  LEVEL);
        if (n == 0 || shmc__decompress(frame, n, back, len) != 0 ||
            memcmp(back, text, len) != 0) {
            tu_note_failure(&job->failures, "thread %u, round %u: %s",
                            job->index, r, shmc_last_error());
            break;
        }
    }
out:
    free(back);
    free(frame);
    free(text);
    return NULL;
}

static void threads_compress_at_once(void **state)
{
    (void)state;
    enum { THREADS = 4 };
    pthread_t threads[THREADS];
    struct thread_job jobs[THREADS];
    for (unsigned i = 0; i < THREADS; i++) {
        jobs[i] = (struct thread_job){.index = i, .rounds = tu_scaled(200)};
        tu_start_thread(&threads[i], compress_in_thread, &jobs[i]);
    }
    for (unsigned i = 0; i < THREADS; i++) {
        tu_join_thread(threads[i]);
        tu_assert_no_failure(&jobs[i].failures, "a compressing thread");
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_size_comes_back),
        cmocka_unit_test(half_random_values_come_back),
        cmocka_unit_test(every_level_comes_back),
        cmocka_unit_test(json_shrinks),
        cmocka_unit_test(random_bytes_stay_raw),
        cmocka_unit_test(a_small_room_keeps_the_value_raw),
        cmocka_unit_test(a_wrong_length_is_corrupt),
        cmocka_unit_test(a_truncated_frame_is_corrupt),
        cmocka_unit_test(other_bytes_are_not_a_frame),
        cmocka_unit_test(a_damaged_frame_is_corrupt),
        cmocka_unit_test(threads_compress_at_once),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
