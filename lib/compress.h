/* compress.h - zstd for values above the compression threshold. A value is
 * stored compressed only when that makes it smaller, so a reader knows from
 * the record's flag which of the two forms it holds, and the raw length
 * travels with the frame (zstd writes it into the frame header). */
#ifndef SHMC_COMPRESS_H
#define SHMC_COMPRESS_H

#include <stddef.h>

/* Compress len bytes of src into dst (room for cap bytes) at zstd's level.
 * Returns the compressed length, which is always less than len; 0 when the
 * result would not be smaller than len, would not fit cap (zstd needs a
 * few bytes of room beyond the frame it writes; ZSTD_compressBound(len) is
 * always enough), or zstd fails: the caller then stores the value raw.
 * Never sets shmc_last_error(). */
size_t shmc__compress(const void *src, size_t len, void *dst, size_t cap,
                      int level);

/* Decompress the zstd frame of len bytes at src into dst, which must come
 * out exactly raw_len bytes. Returns 0; SHMC_ECORRUPT when src is not one
 * of shmc__compress's frames, says another size, or is damaged (the frame
 * carries a checksum of the value, which is checked); -ENOMEM when the
 * decoder cannot be allocated. dst may be partly written on failure. */
int shmc__decompress(const void *src, size_t len, void *dst, size_t raw_len);

/* 0 if len bytes at src start a zstd frame that says it holds raw_len
 * bytes, else SHMC_ECORRUPT: reads the frame header only, so that a
 * damaged length allocates nothing. */
int shmc__frame_check(const void *src, size_t len, size_t raw_len);

#endif
