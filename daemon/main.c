/* main.c - shmcached's command line. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "config.h"
#include "log.h"
#include "run.h"

enum {
    OPT_TICK_MS = CLI_OPT_FIRST_FREE,
    OPT_SWEEP_BUDGET_MS,
    OPT_LOW_WATERMARK,
    OPT_REDIS,
    OPT_BRIDGE_SECRET_FILE,
    OPT_HOST_ID,
    OPT_STREAM,
    OPT_STREAM_MAXLEN,
    OPT_OUTBOX_MAX,
};

/* Options that set one key of the settings file by the same name. */
static const struct {
    int opt;
    const char *option, *key;
    int is_path;
} setting_options[] = {
    {'p', "pidfile", "pidfile", 1},
    {OPT_TICK_MS, "tick-ms", "tick_ms", 0},
    {OPT_SWEEP_BUDGET_MS, "sweep-budget-ms", "sweep_budget_ms", 0},
    {OPT_LOW_WATERMARK, "low-watermark", "low_watermark", 0},
    {OPT_REDIS, "redis", "redis", 0},
    {OPT_BRIDGE_SECRET_FILE, "bridge-secret-file", "bridge_secret_file", 1},
    {OPT_HOST_ID, "host-id", "host_id", 0},
    {OPT_STREAM, "stream", "stream", 0},
    {OPT_STREAM_MAXLEN, "stream-maxlen", "stream_maxlen", 0},
    {OPT_OUTBOX_MAX, "outbox-max", "outbox_max", 0},
};
#define NSETTING_OPTIONS (sizeof setting_options / sizeof setting_options[0])

static const struct option long_options[] = {
    CLI_INSTANCE_LONG_OPTIONS,
    {"config", required_argument, 0, 'c'},
    {"daemon", no_argument, 0, 'd'},
    {"pidfile", required_argument, 0, 'p'},
    {"tick-ms", required_argument, 0, OPT_TICK_MS},
    {"sweep-budget-ms", required_argument, 0, OPT_SWEEP_BUDGET_MS},
    {"low-watermark", required_argument, 0, OPT_LOW_WATERMARK},
    {"redis", required_argument, 0, OPT_REDIS},
    {"bridge-secret-file", required_argument, 0, OPT_BRIDGE_SECRET_FILE},
    {"host-id", required_argument, 0, OPT_HOST_ID},
    {"stream", required_argument, 0, OPT_STREAM},
    {"stream-maxlen", required_argument, 0, OPT_STREAM_MAXLEN},
    {"outbox-max", required_argument, 0, OPT_OUTBOX_MAX},
    {"verbose", no_argument, 0, 'v'},
    {"help", no_argument, 0, 'h'},
    {"version", no_argument, 0, 'V'},
    {0, 0, 0, 0},
};

static void print_help(void)
{
    printf("Usage: %s [OPTION]...\n"
           "Maintain shmcache instances: free the reader slots of dead "
           "processes,\n"
           "remove expired entries, evict when the map is nearly full.\n"
           "\n"
           "  -c, --config FILE      settings file, read again on SIGHUP\n"
           "  -d, --daemon           detach; log to syslog\n"
           "  -p, --pidfile FILE     write the pid to FILE (detached as "
           "root: %s)\n"
           "  --tick-ms MS           time between rounds (default %u)\n"
           "  --sweep-budget-ms MS   sweep time per instance and round "
           "(default %u)\n"
           "  --low-watermark PCT    evict down to this share of the map "
           "(default %u)\n"
           "  --redis URL            carry revocations through Redis:\n"
           "                         redis://[USER:PASS@]HOST[:PORT][/DB] or "
           "unix:///PATH\n"
           "  --bridge-secret-file F the secret that signs them (32 bytes, "
           "mode 0600)\n"
           "  --host-id ID           this host's name (default: the "
           "hostname)\n"
           "  --stream NAME          Redis stream prefix (default %s)\n"
           "  --stream-maxlen N      trim the stream to about N (default "
           "%u)\n"
           "  --outbox-max N         revocations kept while Redis is away "
           "(default %u)\n"
           "  -v, --verbose          also log each sweep\n"
           "  -h, --help             show this help and exit\n"
           "  -V, --version          show the version and exit\n"
           "\n"
           "%s"
           "\n"
           "--path may be given several times, one instance each. Options "
           "given here\n"
           "override the settings file. See shmcached(8).\n",
           cli_prog, RUN_DEFAULT_PIDFILE, CONFIG_DEFAULT_TICK_MS,
           CONFIG_DEFAULT_SWEEP_BUDGET_MS, CONFIG_DEFAULT_LOW_WATERMARK,
           CONFIG_DEFAULT_STREAM, CONFIG_DEFAULT_STREAM_MAXLEN,
           CONFIG_DEFAULT_OUTBOX_MAX, cli_instance_help);
}

static _Noreturn void usage_error(void)
{
    fprintf(stderr, "Usage: %s [OPTION]...\nTry '%s --help' for more.\n",
            cli_prog, cli_prog);
    exit(2);
}

/* path made absolute against the working directory, which a detached
 * daemon leaves: a new string, or NULL (errno set). */
static char *absolute(const char *path)
{
    if (path[0] == '/')
        return strdup(path);
    char *cwd = getcwd(NULL, 0);
    if (!cwd)
        return NULL;
    char *abs = NULL;
    if (asprintf(&abs, "%s/%s", cwd, path) < 0)
        abs = NULL;
    free(cwd);
    return abs;
}

/* config_set on the overrides, for an option given on the command line.
 * Paths are made absolute first. Exits 2 on a bad value. */
static void set_option(struct config *over, const char *option,
                       const char *key, const char *value, int is_path)
{
    char msg[128];
    char *abs = NULL;
    if (is_path && *value && !(abs = absolute(value))) {
        cli_error("--%s: %s", option, strerror(errno));
        exit(1);
    }
    int rc = config_set(over, key, abs ? abs : value, msg, sizeof msg);
    free(abs);
    if (rc) {
        cli_error("--%s: %s", option, msg);
        usage_error();
    }
}

/* What cli_instance_option made of the instance options, into the
 * overrides: an option not given is zero there, as in struct config. */
static void take_instance_options(struct config *over,
                                  const struct cli_instance *ci)
{
    over->map_size = ci->opts.map_size;
    over->max_readers = ci->opts.max_readers;
    over->lock_slots = ci->opts.lock_slots;
    over->recency_slots = ci->opts.recency_slots;
    over->high_watermark = ci->opts.high_watermark;
    if (ci->opts.group)
        set_option(over, "group", "group", ci->opts.group, 0);
}

int main(int argc, char **argv)
{
    cli_set_prog(argv[0]);
    struct run_args args = {0};
    struct cli_instance ci = {0};
    char *config_file = NULL;
    config_init(&args.overrides);

    int opt;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, ":c:dp:vhV", long_options, NULL)) !=
           -1) {
        switch (opt) {
        case CLI_OPT_PATH:
            set_option(&args.overrides, "path", "path", optarg, 1);
            continue;
        case 'c':
            free(config_file);
            if (!(config_file = absolute(optarg))) {
                cli_error("--config: %s", strerror(errno));
                return 1;
            }
            continue;
        case 'd':
            args.detach = 1;
            continue;
        case 'v':
            log_set_verbose(1);
            continue;
        case 'h':
            print_help();
            return 0;
        case 'V':
            cli_version();
            return 0;
        case '?':
            if (optopt)
                cli_error("unknown option '-%c'", optopt);
            else
                cli_error("unknown option '%s'", argv[optind - 1]);
            usage_error();
        case ':':
            cli_error("option '%s' needs a value", argv[optind - 1]);
            usage_error();
        default:
            break;
        }
        size_t i = 0;
        while (i < NSETTING_OPTIONS && setting_options[i].opt != opt)
            i++;
        if (i < NSETTING_OPTIONS)
            set_option(&args.overrides, setting_options[i].option,
                       setting_options[i].key, optarg,
                       setting_options[i].is_path);
        else if (cli_instance_option(&ci, opt, optarg) != 1)
            usage_error();
    }
    if (optind < argc) {
        cli_error("unexpected argument '%s'", argv[optind]);
        usage_error();
    }
    take_instance_options(&args.overrides, &ci);
    args.config_file = config_file;

    int status = run_daemon(&args);
    config_free(&args.overrides);
    free(config_file);
    return status;
}
