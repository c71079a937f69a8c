/* ctl.c - shmcache-ctl: an operator's commands on an instance, from a
 * shell: read, write and delete entries, list keys, check the instance,
 * sweep and evict.
 *
 * The command line is read in full, and checked against the command, before
 * the instance is opened: a mistyped command does nothing. Every command but
 * create opens with SHMC_OPEN_NOCREATE, so that a mistyped --path is an
 * error rather than a new, empty instance. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "ctl.h"
#include "escape.h"
#include "output.h"

/* The options a command may take besides the instance options. */
enum {
    O_TTL = 1u << 0,
    O_STALE_WINDOW = 1u << 1,
    O_STALE = 1u << 2,
    O_LIMIT = 1u << 3,
    O_EXPIRED = 1u << 4,
    O_ESCAPED = 1u << 5,
    O_BUDGET = 1u << 6,
    O_BATCH = 1u << 7,
};

enum {
    OPT_TTL = CLI_OPT_FIRST_FREE,
    OPT_STALE_WINDOW,
    OPT_STALE,
    OPT_LIMIT,
    OPT_EXPIRED,
    OPT_BUDGET,
    OPT_BATCH,
};

static const struct option long_options[] = {
    CLI_INSTANCE_LONG_OPTIONS,
    {"ttl", required_argument, 0, OPT_TTL},
    {"stale-window", required_argument, 0, OPT_STALE_WINDOW},
    {"stale", no_argument, 0, OPT_STALE},
    {"limit", required_argument, 0, OPT_LIMIT},
    {"expired", no_argument, 0, OPT_EXPIRED},
    {"escaped", no_argument, 0, 'e'},
    {"budget-us", required_argument, 0, OPT_BUDGET},
    {"batch", required_argument, 0, OPT_BATCH},
    {"help", no_argument, 0, 'h'},
    {"version", no_argument, 0, 'V'},
    {0, 0, 0, 0},
};

/* The option behind each O_* bit, for "COMMAND takes no --X". */
static const struct {
    unsigned bit;
    const char *name;
} option_names[] = {
    {O_TTL, "--ttl"},         {O_STALE_WINDOW, "--stale-window"},
    {O_STALE, "--stale"},     {O_LIMIT, "--limit"},
    {O_EXPIRED, "--expired"}, {O_ESCAPED, "--escaped"},
    {O_BUDGET, "--budget-us"}, {O_BATCH, "--batch"},
};

struct command {
    const char *name;
    const char *synopsis; /* what follows the name */
    const char *what;     /* for --help */
    unsigned options;     /* O_* bits it accepts */
    int min_args, max_args;
    /* Checks the arguments before the instance is opened, or NULL:
     * 0, or -1 after saying what is wrong. */
    int (*check)(struct ctl_args *a);
    /* NULL for create, which opens the instance itself. */
    int (*run)(shmc_cache *c, const struct ctl_args *a);
};

static int check_prefix(struct ctl_args *a)
{
    if (a->arg[0].len > 0)
        return 0;
    cli_error("invalidate-prefix: the prefix is empty (flush deletes "
              "everything)");
    return -1;
}

static int check_percent(struct ctl_args *a)
{
    uint64_t pct;
    if (cli_parse_uint(a->arg[0].bytes, 1, 99, &pct) == 0) {
        a->percent = (unsigned)pct;
        return 0;
    }
    cli_error("evict: '%s' is not a percentage from 1 to 99",
              a->arg[0].bytes);
    return -1;
}

static const struct command commands[] = {
    {"get", "[--stale] [-e] KEY",
     "write the value of KEY to stdout, as it is", O_STALE | O_ESCAPED, 1, 1,
     NULL, ctl_get},
    {"set", "[--ttl MS] [--stale-window MS] [-e] KEY VALUE|-",
     "store VALUE (\"-\": read it from stdin) under KEY",
     O_TTL | O_STALE_WINDOW | O_ESCAPED, 2, 2, NULL, ctl_set},
    {"del", "[-e] KEY", "delete KEY", O_ESCAPED, 1, 1, NULL, ctl_del},
    {"revoke", "[-e] KEY", "delete KEY and count a revocation", O_ESCAPED,
     1, 1, NULL, ctl_revoke},
    {"invalidate-prefix", "[-e] PREFIX",
     "delete every key starting with PREFIX; print how many", O_ESCAPED, 1,
     1, check_prefix, ctl_invalidate_prefix},
    {"flush", "", "delete every entry", 0, 0, 0, NULL, ctl_flush},
    {"keys", "[--limit N] [--expired] [-e] [PREFIX]",
     "list the keys (starting with PREFIX), one a line",
     O_LIMIT | O_EXPIRED | O_ESCAPED, 0, 1, NULL, ctl_keys},
    {"verify", "", "check every record; exit 2 if any is damaged", 0, 0, 0,
     NULL, ctl_verify},
    {"sweep", "[--budget-us N] [--batch N]", "remove expired entries once",
     O_BUDGET | O_BATCH, 0, 0, NULL, ctl_sweep},
    {"evict", "[--budget-us N] [--batch N] PCT",
     "evict until at most PCT% of the map is in use", O_BUDGET | O_BATCH, 1,
     1, check_percent, ctl_evict},
    {"reader-check", "", "free the reader slots of dead processes", 0, 0, 0,
     NULL, ctl_reader_check},
    {"create", "", "create the instance with the instance options", 0, 0, 0,
     NULL, NULL},
};

#define COMMAND_COUNT (sizeof commands / sizeof commands[0])

int ctl_fail(const char *cmd, int rc)
{
    const char *detail = shmc_last_error();
    cli_error("%s: %s%s%s", cmd, shmc_strerror(rc), *detail ? ": " : "",
              detail);
    return CTL_TROUBLE;
}

static void usage(FILE *out, const struct command *cmd)
{
    if (cmd) {
        fprintf(out, "usage: %s [OPTIONS] %s %s\n", cli_prog, cmd->name,
                cmd->synopsis);
        return;
    }
    fprintf(out, "usage: %s [OPTIONS] COMMAND [ARGS]\ncommands:", cli_prog);
    for (size_t i = 0; i < COMMAND_COUNT; i++)
        fprintf(out, " %s", commands[i].name);
    fputc('\n', out);
}

static int bad_usage(const struct command *cmd)
{
    usage(stderr, cmd);
    fprintf(stderr, "Try '%s --help' for more information.\n", cli_prog);
    return CTL_TROUBLE;
}

static void help(void)
{
    usage(stdout, NULL);
    puts("\nCommands:");
    for (size_t i = 0; i < COMMAND_COUNT; i++)
        printf("  %s %s\n      %s\n", commands[i].name,
               commands[i].synopsis, commands[i].what);
    printf("\nOptions:\n"
           "  --ttl MS               set: fresh for MS milliseconds (0: no"
           " expiry)\n"
           "  --stale-window MS      set: then stale for MS milliseconds\n"
           "  --stale                get: also return a stale value\n"
           "  --limit N              keys: list at most N keys (default "
           "%u)\n"
           "  --expired              keys: also list expired entries\n"
           "  -e, --escaped          KEY, VALUE and PREFIX are written with"
           " \\xNN escapes,\n"
           "                         as keys prints them\n"
           "  --budget-us N          sweep, evict: stop after about N "
           "microseconds\n"
           "  --batch N              sweep, evict: records per write "
           "transaction\n"
           "  -h, --help             show this help\n"
           "  -V, --version          show the version\n\n%s"
           "\nExit status: 0 done, 1 key not found (get, del, revoke) or "
           "instance\nalready there (create), 2 error.\n",
           CTL_DEFAULT_LIMIT, cli_instance_help);
}

struct ctl_options {
    struct cli_instance instance;
    struct ctl_args args;
    unsigned given; /* O_* bits of the options on the command line */
};

static int number_option(const char *name, const char *arg, uint64_t min,
                         uint64_t max, uint64_t *out)
{
    if (cli_parse_uint(arg, min, max, out) == 0)
        return 0;
    cli_error("%s: '%s' is not a number from %llu to %llu", name, arg,
              (unsigned long long)min, (unsigned long long)max);
    return -1;
}

/* Handle a command option: 0, or -1 after saying what is wrong. */
static int command_option(struct ctl_options *o, int opt, const char *arg)
{
    struct ctl_args *a = &o->args;
    uint64_t v;
    switch (opt) {
    case OPT_TTL:
        o->given |= O_TTL;
        return number_option("--ttl", arg, 0, UINT64_MAX, &a->ttl_ms);
    case OPT_STALE_WINDOW:
        o->given |= O_STALE_WINDOW;
        return number_option("--stale-window", arg, 0, UINT64_MAX,
                             &a->stale_window_ms);
    case OPT_STALE:
        o->given |= O_STALE;
        a->get_flags |= SHMC_GET_STALE;
        return 0;
    case OPT_LIMIT:
        o->given |= O_LIMIT;
        return number_option("--limit", arg, 1, UINT32_MAX, &a->limit);
    case OPT_EXPIRED:
        o->given |= O_EXPIRED;
        a->scan_flags |= SHMC_SCAN_EXPIRED;
        return 0;
    case 'e':
        o->given |= O_ESCAPED;
        return 0;
    case OPT_BUDGET:
        o->given |= O_BUDGET;
        return number_option("--budget-us", arg, 1, UINT32_MAX,
                             &a->sweep.budget_us);
    case OPT_BATCH:
        o->given |= O_BATCH;
        if (number_option("--batch", arg, 1, UINT32_MAX, &v))
            return -1;
        a->sweep.batch = (unsigned)v;
        return 0;
    default:
        return -1; /* getopt has said what it did not know */
    }
}

static const struct command *find_command(const char *name)
{
    for (size_t i = 0; i < COMMAND_COUNT; i++)
        if (strcmp(commands[i].name, name) == 0)
            return &commands[i];
    return NULL;
}

/* The command's positional arguments into o->args, decoded with -e. */
static int take_arguments(struct ctl_options *o, const struct command *cmd,
                          int argc, char **argv)
{
    if (argc < cmd->min_args || argc > cmd->max_args) {
        cli_error("%s takes %s", cmd->name,
                  cmd->max_args == 0 ? "no arguments"
                  : argc < cmd->min_args ? "more arguments"
                                         : "fewer arguments");
        return -1;
    }
    for (int i = 0; i < argc; i++) {
        long len = (long)strlen(argv[i]);
        if ((o->given & O_ESCAPED) && (len = unescape_in_place(argv[i])) < 0) {
            cli_error("%s: bad escape in argument %d (write a byte as \\xNN"
                      ", a backslash as \\x5c)",
                      cmd->name, i + 1);
            return -1;
        }
        o->args.arg[i] = (struct ctl_arg){argv[i], (size_t)len};
    }
    o->args.count = argc;
    unsigned stray = o->given & ~cmd->options;
    for (size_t i = 0; stray && i < sizeof option_names / sizeof *option_names;
         i++)
        if (stray & option_names[i].bit) {
            cli_error("%s takes no %s", cmd->name, option_names[i].name);
            return -1;
        }
    return cmd->check ? cmd->check(&o->args) : 0;
}

/* Create the instance unless it exists: an operator who sizes a new
 * instance must learn when the options were not applied, because shmc_open
 * ignores creation options for an instance already there. */
static int create_instance(const struct cli_instance *ci)
{
    const char *path = ci->path ? ci->path : SHMC_DEFAULT_PATH;
    shmc_opts probe = ci->opts;
    probe.flags |= SHMC_OPEN_NOCREATE;
    shmc_cache *c;
    if (shmc_open(&c, path, &probe) == 0) {
        shmc_close(c);
        cli_error("%s already exists; nothing done", path);
        return CTL_NOT_FOUND;
    }
    if (cli_open(ci, &c))
        return CTL_TROUBLE;
    shmc_close(c);
    return CTL_DONE;
}

int main(int argc, char **argv)
{
    struct ctl_options o = {.args.limit = CTL_DEFAULT_LIMIT};
    int opt;
    cli_set_prog(argv[0]);
    argv[0] = (char *)cli_prog; /* getopt's messages name argv[0] */
    while ((opt = getopt_long(argc, argv, "ehV", long_options, NULL)) != -1) {
        int handled = cli_instance_option(&o.instance, opt, optarg);
        if (handled < 0)
            return bad_usage(NULL);
        if (handled)
            continue;
        if (opt == 'h') {
            help();
            return output_finish() ? CTL_TROUBLE : CTL_DONE;
        }
        if (opt == 'V') {
            cli_version();
            return output_finish() ? CTL_TROUBLE : CTL_DONE;
        }
        if (command_option(&o, opt, optarg))
            return bad_usage(NULL);
    }
    if (optind >= argc) {
        cli_error("no command");
        return bad_usage(NULL);
    }
    const struct command *cmd = find_command(argv[optind]);
    if (!cmd) {
        cli_error("unknown command '%s'", argv[optind]);
        return bad_usage(NULL);
    }
    if (take_arguments(&o, cmd, argc - optind - 1, argv + optind + 1))
        return bad_usage(cmd);

    if (!cmd->run)
        return create_instance(&o.instance);
    o.instance.opts.flags |= SHMC_OPEN_NOCREATE;
    shmc_cache *c;
    if (cli_open(&o.instance, &c))
        return CTL_TROUBLE;
    int rc = cmd->run(c, &o.args);
    shmc_close(c);
    if (output_finish())
        return CTL_TROUBLE;
    return rc;
}
