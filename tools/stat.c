/* stat.c - shmcache-stat: show what an instance holds and what its workers
 * did, once or every few seconds.
 *
 * It reads only through shmc_info_get() and shmc_stats_get(), which take no
 * lock a worker could wait for, and it opens the instance with
 * SHMC_OPEN_NOCREATE: looking at a path never creates an instance there. */
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "output.h"
#include "stat.h"

enum { EXIT_TROUBLE = 2 };

enum format { FORMAT_TABLE, FORMAT_JSON, FORMAT_PROMETHEUS };

enum {
    OPT_JSON = CLI_OPT_FIRST_FREE,
    OPT_PROMETHEUS,
    OPT_WATCH,
    OPT_COUNT,
};

#define MAX_WATCH_SECONDS 86400.0
#define MIN_WATCH_SECONDS 0.1

struct stat_options {
    struct cli_instance instance;
    enum format format;
    double watch_s; /* 0: one frame */
    uint64_t count; /* frames of --watch, 0: until a signal */
};

static const struct option long_options[] = {
    CLI_INSTANCE_LONG_OPTIONS,
    {"json", no_argument, 0, OPT_JSON},
    {"prometheus", no_argument, 0, OPT_PROMETHEUS},
    {"watch", required_argument, 0, OPT_WATCH},
    {"count", required_argument, 0, OPT_COUNT},
    {"help", no_argument, 0, 'h'},
    {"version", no_argument, 0, 'V'},
    {0, 0, 0, 0},
};

static void usage(FILE *out)
{
    fprintf(out,
            "usage: %s [--json | --prometheus | --watch SECONDS [--count N]]"
            " [--path DIR]\n",
            cli_prog);
}

static void help(void)
{
    usage(stdout);
    printf("\nShow an instance's size, use and counters. Read-only: never "
           "creates an\ninstance and never blocks a worker.\n\n"
           "Output:\n"
           "  --json                 one JSON object\n"
           "  --prometheus           Prometheus text exposition format\n"
           "  --watch SECONDS        redraw the table every SECONDS (e.g. 2,"
           " 0.5),\n"
           "                         with rates per second; stop with "
           "Ctrl-C\n"
           "  --count N              with --watch: stop after N frames\n"
           "  -h, --help             show this help\n"
           "  -V, --version          show the version\n\n%s"
           "\nExit status: 0 shown, 2 error (bad arguments, no instance).\n",
           cli_instance_help);
}

static int bad_usage(void)
{
    usage(stderr);
    fprintf(stderr, "Try '%s --help' for more information.\n", cli_prog);
    return EXIT_TROUBLE;
}

/* Seconds as "2" or "0.5": a plain decimal, no sign, exponent or "inf". */
static int parse_seconds(const char *s, double *out)
{
    if (!s || strspn(s, "0123456789.") != strlen(s) || !*s)
        return -1;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || *end || !isfinite(v) || v < MIN_WATCH_SECONDS ||
        v > MAX_WATCH_SECONDS)
        return -1;
    *out = v;
    return 0;
}

/* 0 parsed, 1 --help or --version done, EXIT_TROUBLE bad arguments. */
static int parse_args(int argc, char **argv, struct stat_options *o)
{
    int formats = 0, opt;
    while ((opt = getopt_long(argc, argv, "hV", long_options, NULL)) != -1) {
        int handled = cli_instance_option(&o->instance, opt, optarg);
        if (handled < 0)
            return bad_usage();
        if (handled)
            continue;
        switch (opt) {
        case OPT_JSON:
            o->format = FORMAT_JSON;
            formats++;
            break;
        case OPT_PROMETHEUS:
            o->format = FORMAT_PROMETHEUS;
            formats++;
            break;
        case OPT_WATCH:
            if (parse_seconds(optarg, &o->watch_s)) {
                cli_error("--watch: '%s' is not a number of seconds from "
                          "0.1 to 86400",
                          optarg);
                return bad_usage();
            }
            break;
        case OPT_COUNT:
            if (cli_parse_uint(optarg, 1, UINT32_MAX, &o->count)) {
                cli_error("--count: '%s' is not a number of frames",
                          optarg);
                return bad_usage();
            }
            break;
        case 'h':
            help();
            return 1;
        case 'V':
            cli_version();
            return 1;
        default:
            return bad_usage();
        }
    }
    if (optind < argc) {
        cli_error("unexpected argument '%s'", argv[optind]);
        return bad_usage();
    }
    if (formats > 1) {
        cli_error("--json and --prometheus exclude each other");
        return bad_usage();
    }
    if (o->watch_s > 0 && o->format != FORMAT_TABLE) {
        cli_error("--watch redraws the table; it takes no --json or "
                  "--prometheus");
        return bad_usage();
    }
    if (o->count && o->watch_s == 0) {
        cli_error("--count needs --watch");
        return bad_usage();
    }
    return 0;
}

static uint64_t monotonic_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int read_frame(shmc_cache *c, const char *path, struct stat_frame *f)
{
    int rc = shmc_info_get(c, &f->info);
    if (rc == 0)
        rc = shmc_stats_get(c, &f->stats);
    if (rc) {
        cli_error("cannot read %s: %s", path, shmc_strerror(rc));
        return -1;
    }
    f->path = path;
    f->wall_ms = shmc_now_ms();
    f->mono_ns = monotonic_ns();
    return 0;
}

static int show_once(shmc_cache *c, const struct stat_options *o,
                     const char *path)
{
    struct stat_frame f;
    if (read_frame(c, path, &f))
        return EXIT_TROUBLE;
    switch (o->format) {
    case FORMAT_JSON:
        stat_print_json(stdout, &f);
        break;
    case FORMAT_PROMETHEUS:
        stat_print_prometheus(stdout, &f);
        break;
    case FORMAT_TABLE:
        stat_print_table(stdout, &f, NULL, 0);
        break;
    }
    return output_finish() ? EXIT_TROUBLE : 0;
}

/* Wait until deadline_ns (monotonic) unless SIGINT or SIGTERM, which are
 * blocked, comes first: 1 when one did. Blocking them and waiting with
 * sigtimedwait leaves no moment in which a signal is lost between a check
 * and the sleep. */
static int stopped_before(uint64_t deadline_ns, const sigset_t *stop)
{
    for (;;) {
        uint64_t now = monotonic_ns();
        if (now >= deadline_ns)
            return 0;
        uint64_t left = deadline_ns - now;
        struct timespec ts = {.tv_sec = (time_t)(left / 1000000000u),
                              .tv_nsec = (long)(left % 1000000000u)};
        int sig = sigtimedwait(stop, NULL, &ts);
        if (sig > 0)
            return 1;
        if (errno != EAGAIN && errno != EINTR)
            return 1;
    }
}

static void draw_frame(const struct stat_options *o,
                       const struct stat_frame *cur,
                       const struct stat_frame *prev, int on_terminal)
{
    char when[32] = "";
    time_t now = (time_t)(cur->wall_ms / 1000);
    struct tm tm;
    if (localtime_r(&now, &tm))
        strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S", &tm);

    if (on_terminal)
        fputs("\033[H\033[2J", stdout);
    else if (prev)
        fputc('\n', stdout);
    printf("%s  every %g s  %s\n\n", cli_prog, o->watch_s, when);
    stat_print_table(stdout, cur, prev, 1);
}

static int watch(shmc_cache *c, const struct stat_options *o,
                 const char *path)
{
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGTERM);
    sigprocmask(SIG_BLOCK, &stop, NULL);

    int on_terminal = isatty(STDOUT_FILENO);
    uint64_t interval_ns = (uint64_t)(o->watch_s * 1e9);
    uint64_t start_ns = monotonic_ns();
    struct stat_frame frames[2];
    struct stat_frame *prev = NULL;
    for (uint64_t n = 0; o->count == 0 || n < o->count; n++) {
        /* Deadlines from the start, so that drawing time does not add up
         * into drift. */
        if (n > 0 && stopped_before(start_ns + n * interval_ns, &stop))
            break;
        struct stat_frame *cur = &frames[n % 2];
        if (read_frame(c, path, cur))
            return EXIT_TROUBLE;
        draw_frame(o, cur, prev, on_terminal);
        if (output_finish())
            return EXIT_TROUBLE;
        prev = cur;
    }
    return 0;
}

int main(int argc, char **argv)
{
    struct stat_options o = {0};
    cli_set_prog(argv[0]);
    argv[0] = (char *)cli_prog; /* getopt's messages name argv[0] */
    int rc = parse_args(argc, argv, &o);
    if (rc == 1)
        return output_finish() ? EXIT_TROUBLE : 0;
    if (rc)
        return rc;

    /* Counters and figures only: no entry is read, no key needed. */
    o.instance.opts.flags |= SHMC_OPEN_NOCREATE | SHMC_OPEN_NOKEYS;
    const char *path = o.instance.path ? o.instance.path : SHMC_DEFAULT_PATH;
    shmc_cache *c;
    if (cli_open(&o.instance, &c))
        return EXIT_TROUBLE;
    rc = o.watch_s > 0 ? watch(c, &o, path) : show_once(c, &o, path);
    shmc_close(c);
    return rc;
}
