/* compress.c - see compress.h. */
#include "compress.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <zstd.h>

#include "errors.h"
#include "shmcache.h"

/* Reusing zstd's contexts halves the cost of a 16 KiB value (its one-shot
 * calls allocate and set up a context each time), so each thread keeps
 * one of each, made on first use. */
struct contexts {
    ZSTD_CCtx *cctx;
    ZSTD_DCtx *dctx;
};

/* The default TLS model: a __tls_get_addr call is nothing beside a
 * compression, and the static TLS glibc keeps for libraries loaded with
 * dlopen is better left to the read path's variables. */
static _Thread_local struct contexts *thread_contexts;
static pthread_once_t key_once = PTHREAD_ONCE_INIT;
static pthread_key_t contexts_key; /* its destructor frees a thread's */

static void free_contexts(void *p)
{
    struct contexts *c = p;
    ZSTD_freeCCtx(c->cctx);
    ZSTD_freeDCtx(c->dctx);
    free(c);
    /* Another library's thread-exit destructor may still compress. */
    thread_contexts = NULL;
}

static void make_key(void)
{
    pthread_key_create(&contexts_key, free_contexts);
}

static struct contexts *contexts_of_thread(void)
{
    if (thread_contexts)
        return thread_contexts;
    struct contexts *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    pthread_once(&key_once, make_key);
    thread_contexts = c;
    pthread_setspecific(contexts_key, c);
    return c;
}

/* Frames carry zstd's checksum of the value: without it, most single-bit
 * changes of a frame decode without an error, to other bytes. */
static ZSTD_CCtx *thread_cctx(void)
{
    struct contexts *c = contexts_of_thread();
    if (c && !c->cctx) {
        c->cctx = ZSTD_createCCtx();
        if (c->cctx && ZSTD_isError(ZSTD_CCtx_setParameter(
                           c->cctx, ZSTD_c_checksumFlag, 1))) {
            ZSTD_freeCCtx(c->cctx);
            c->cctx = NULL;
        }
    }
    return c ? c->cctx : NULL;
}

static ZSTD_DCtx *thread_dctx(void)
{
    struct contexts *c = contexts_of_thread();
    if (c && !c->dctx)
        c->dctx = ZSTD_createDCtx();
    return c ? c->dctx : NULL;
}

size_t shmc__compress(const void *src, size_t len, void *dst, size_t cap,
                      int level)
{
    if (len == 0)
        return 0;
    ZSTD_CCtx *cctx = thread_cctx();
    if (!cctx)
        return 0;
    /* Room for one byte less than the value: zstd gives up with an error
     * as soon as it runs out, so a value that does not shrink costs no
     * more than the attempt. */
    size_t room = cap < len - 1 ? cap : len - 1;
    if (ZSTD_isError(ZSTD_CCtx_setParameter(cctx, ZSTD_c_compressionLevel,
                                            level)))
        return 0;
    size_t n = ZSTD_compress2(cctx, dst, room, src, len);
    return ZSTD_isError(n) ? 0 : n;
}

int shmc__frame_check(const void *src, size_t len, size_t raw_len)
{
    unsigned long long said = ZSTD_getFrameContentSize(src, len);
    if (said == ZSTD_CONTENTSIZE_ERROR || said == ZSTD_CONTENTSIZE_UNKNOWN)
        return shmc__fail(SHMC_ECORRUPT,
                          "compressed value: not a zstd frame with its size");
    if (said != raw_len)
        return shmc__fail(SHMC_ECORRUPT,
                          "compressed value: the frame holds %llu bytes, "
                          "the record says %zu",
                          said, raw_len);
    return 0;
}

int shmc__decompress(const void *src, size_t len, void *dst, size_t raw_len)
{
    int rc = shmc__frame_check(src, len, raw_len);
    if (rc)
        return rc;
    ZSTD_DCtx *dctx = thread_dctx();
    if (!dctx)
        return shmc__fail(-ENOMEM, "compressed value: no memory to decode");
    /* zstd refuses a frame that decodes to other than the size it says,
     * so success means raw_len bytes. */
    size_t n = ZSTD_decompressDCtx(dctx, dst, raw_len, src, len);
    if (ZSTD_isError(n))
        return shmc__fail(SHMC_ECORRUPT, "compressed value: %s",
                          ZSTD_getErrorName(n));
    return 0;
}
