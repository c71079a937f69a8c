/* fuzzreplay.h - what the fuzz targets share when built as tests: the
 * replay of a corpus directory, each file in a buffer of exactly its size
 * (so that AddressSanitizer and valgrind see a read beyond it), and the
 * tally of passed and failed inputs. prog names the program in messages. */
#ifndef SHMC_FUZZREPLAY_H
#define SHMC_FUZZREPLAY_H

#include <stddef.h>
#include <stdint.h>

typedef void (*fr_input_fn)(const char *name, const uint8_t *data,
                            size_t size);

/* Hand every file of dir but dot files to fn. Exits 99 when dir or a file
 * cannot be read. */
void fr_replay_dir(const char *prog, const char *dir, fr_input_fn fn);

/* The corpus directory: argv[1] if given, else $srcdir/sub (srcdir
 * defaulting to "."), into dir (cap bytes). */
void fr_corpus_dir(int argc, char **argv, const char *sub, char *dir,
                   size_t cap);

/* size bytes, or exit 99 (size 0 gives a 1-byte buffer). */
uint8_t *fr_xmalloc(const char *prog, size_t size);

/* Count input name as passed, printing "ok NAME[: note]" (note may be
 * NULL). */
void fr_pass(const char *name, const char *note);

/* Count input name as failed, printing "FAIL NAME: " and the message. */
__attribute__((format(printf, 2, 3))) void fr_fail(const char *name,
                                                   const char *fmt, ...);

/* Print the tally; the exit status: 99 when fewer than min_inputs were
 * run (the corpus went missing), 1 when any failed, else 0. */
int fr_finish(const char *prog, const char *dir, unsigned min_inputs);

#endif
