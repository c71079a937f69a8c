/* cli.h - what shmcached, shmcache-stat and shmcache-ctl share on their
 * command lines: the instance (--path) and the options a worker can give
 * shmc_open(), spelled the same way in all three, and how errors are
 * printed ("program: message" on stderr). */
#ifndef SHMC_CLI_H
#define SHMC_CLI_H

#include <getopt.h>
#include <stdint.h>

#include "shmcache.h"

/* The instance a program works on. */
struct cli_instance {
    const char *path; /* SHMC_DEFAULT_PATH unless --path */
    shmc_opts opts;   /* its key pointers point into the buffers below */
    unsigned char key_secret[SHMC_VALUE_KEY_LEN];
    unsigned char value_key[SHMC_VALUE_KEY_LEN];
};

/* getopt_long codes of the instance options (beyond any short option). */
enum {
    CLI_OPT_PATH = 0x100,
    CLI_OPT_MAP_SIZE,
    CLI_OPT_MAX_READERS,
    CLI_OPT_GROUP,
    CLI_OPT_L1_ENTRIES,
    CLI_OPT_LOCK_SLOTS,
    CLI_OPT_RECENCY_SLOTS,
    CLI_OPT_HIGH_WATERMARK,
    CLI_OPT_KEY_SECRET_FILE,
    CLI_OPT_VALUE_KEY_FILE,
    CLI_OPT_FIRST_FREE /* a program's own long-only codes start here */
};

/* The instance options as struct option entries, to put in a program's
 * own table (which then ends with a zeroed entry). */
#define CLI_INSTANCE_LONG_OPTIONS                                           \
    {"path", required_argument, 0, CLI_OPT_PATH},                           \
        {"map-size", required_argument, 0, CLI_OPT_MAP_SIZE},               \
        {"max-readers", required_argument, 0, CLI_OPT_MAX_READERS},         \
        {"group", required_argument, 0, CLI_OPT_GROUP},                     \
        {"l1-entries", required_argument, 0, CLI_OPT_L1_ENTRIES},           \
        {"lock-slots", required_argument, 0, CLI_OPT_LOCK_SLOTS},           \
        {"recency-slots", required_argument, 0, CLI_OPT_RECENCY_SLOTS},     \
        {"high-watermark", required_argument, 0, CLI_OPT_HIGH_WATERMARK},   \
        {"key-secret-file", required_argument, 0, CLI_OPT_KEY_SECRET_FILE}, \
        {"value-key-file", required_argument, 0, CLI_OPT_VALUE_KEY_FILE}

/* The lines of --help that describe the instance options. */
extern const char cli_instance_help[];

/* The program's name for messages: set once from argv[0]. */
extern const char *cli_prog;
void cli_set_prog(const char *argv0);

/* Print "prog: message" to stderr. */
void cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Print "prog (shmcache) VERSION" to stdout. */
void cli_version(void);

/* Handle opt if it is an instance option: 1 handled, 0 not an instance
 * option, -1 bad value (already reported). */
int cli_instance_option(struct cli_instance *ci, int opt, const char *arg);

/* Parse a size in bytes with an optional K, M, G or T suffix (powers of
 * 1024): 0 or -1 (not a size, or it overflows). */
int cli_parse_size(const char *s, uint64_t *out);

/* Parse an unsigned decimal number within [min, max]: 0 or -1. */
int cli_parse_uint(const char *s, uint64_t min, uint64_t max, uint64_t *out);

/* shmc_open() the instance, reporting a failure with the path and
 * shmc_last_error(). Returns 0 or the error. */
int cli_open(const struct cli_instance *ci, shmc_cache **out);

#endif
