/* cli.c - the command-line pieces shared by the daemon and the tools. */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

const char *cli_prog = "shmcache";

const char cli_instance_help[] =
    "Instance:\n"
    "  --path DIR             the instance (default " SHMC_DEFAULT_PATH ")\n"
    "  --map-size SIZE        map size when creating it (K, M, G suffixes)\n"
    "  --max-readers N        LMDB reader slots when creating it\n"
    "  --group NAME           group that shares the instance\n"
    "  --l1-entries N         per-thread read cache entries\n"
    "  --lock-slots N         per-key lock slots when creating it\n"
    "  --recency-slots N      access-recency slots when creating it\n"
    "  --high-watermark PCT   evict when more of the map is in use (10-99)\n"
    "  --key-secret-file F    the key secret (32 bytes, or 64 hex digits)\n"
    "  --value-key-file F     the value encryption key (the same form)\n";

void cli_set_prog(const char *argv0)
{
    const char *slash = argv0 ? strrchr(argv0, '/') : NULL;
    cli_prog = slash ? slash + 1 : (argv0 && *argv0 ? argv0 : cli_prog);
}

void cli_error(const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "%s: ", cli_prog);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

void cli_version(void)
{
    printf("%s (shmcache) %s\n", cli_prog, SHMC_VERSION_STRING);
}

int cli_parse_uint(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
    char *end;
    if (!s || *s < '0' || *s > '9')
        return -1;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end || v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

int cli_parse_size(const char *s, uint64_t *out)
{
    char *end;
    if (!s || *s < '0' || *s > '9')
        return -1;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno)
        return -1;
    unsigned shift = 0;
    switch (*end) {
    case 'T': shift += 10; /* fall through */
    case 'G': shift += 10; /* fall through */
    case 'M': shift += 10; /* fall through */
    case 'K': shift += 10; end++; break;
    case '\0': break;
    default: return -1;
    }
    if (*end || (shift && v > (UINT64_MAX >> shift)))
        return -1;
    *out = (uint64_t)v << shift;
    return 0;
}

/* An unsigned option value for a field of shmc_opts. */
static int uint_option(const char *name, const char *arg, uint64_t min,
                       uint64_t max, unsigned *field)
{
    uint64_t v;
    if (cli_parse_uint(arg, min, max, &v)) {
        cli_error("--%s: '%s' is not a number from %llu to %llu", name, arg,
                  (unsigned long long)min, (unsigned long long)max);
        return -1;
    }
    *field = (unsigned)v;
    return 1;
}

int cli_instance_option(struct cli_instance *ci, int opt, const char *arg)
{
    shmc_opts *o = &ci->opts;
    switch (opt) {
    case CLI_OPT_PATH:
        if (!*arg) {
            cli_error("--path: empty");
            return -1;
        }
        ci->path = arg;
        return 1;
    case CLI_OPT_MAP_SIZE:
        if (cli_parse_size(arg, &o->map_size)) {
            cli_error("--map-size: '%s' is not a size (e.g. 256M, 2G)", arg);
            return -1;
        }
        return 1;
    case CLI_OPT_MAX_READERS:
        return uint_option("max-readers", arg, 1, INT_MAX, &o->max_readers);
    case CLI_OPT_GROUP:
        o->group = arg;
        return 1;
    case CLI_OPT_L1_ENTRIES:
        return uint_option("l1-entries", arg, 0, 1u << 24, &o->l1_entries);
    case CLI_OPT_LOCK_SLOTS:
        return uint_option("lock-slots", arg, 1, 1u << 20, &o->lock_slots);
    case CLI_OPT_RECENCY_SLOTS:
        return uint_option("recency-slots", arg, 1, 1u << 26,
                           &o->recency_slots);
    case CLI_OPT_HIGH_WATERMARK:
        return uint_option("high-watermark", arg, 10, 99,
                           &o->high_watermark);
    case CLI_OPT_KEY_SECRET_FILE:
    case CLI_OPT_VALUE_KEY_FILE: {
        int secret = opt == CLI_OPT_KEY_SECRET_FILE;
        unsigned char *key = secret ? ci->key_secret : ci->value_key;
        int rc = shmc_key_file_read(arg, key);
        if (rc) {
            /* The library's detail names the file and the reason, never
             * the key. */
            cli_error("--%s: %s (%s)",
                      secret ? "key-secret-file" : "value-key-file",
                      shmc_last_error(), shmc_strerror(rc));
            return -1;
        }
        if (secret) {
            o->key_secret = key;
            o->key_secret_len = SHMC_VALUE_KEY_LEN;
        } else {
            o->value_key = key;
        }
        return 1;
    }
    default:
        return 0;
    }
}

int cli_open(const struct cli_instance *ci, shmc_cache **out)
{
    const char *path = ci->path ? ci->path : SHMC_DEFAULT_PATH;
    int rc = shmc_open(out, path, &ci->opts);
    if (rc) {
        /* The library's detail names the path and the reason. */
        const char *detail = shmc_last_error();
        if (*detail)
            cli_error("cannot open the instance: %s (%s)", detail,
                      shmc_strerror(rc));
        else
            cli_error("cannot open %s: %s", path, shmc_strerror(rc));
    }
    return rc;
}
