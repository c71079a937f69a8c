/* log.c - see log.h. */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <syslog.h>

#include "cli.h"

static int verbose;
static int use_syslog;

static const struct {
    const char *name;
    int priority;
} levels[] = {
    [LOG_LEVEL_ERROR] = {"error", LOG_ERR},
    [LOG_LEVEL_WARNING] = {"warning", LOG_WARNING},
    [LOG_LEVEL_NOTICE] = {"notice", LOG_NOTICE},
    [LOG_LEVEL_INFO] = {"info", LOG_INFO},
    [LOG_LEVEL_DEBUG] = {"debug", LOG_DEBUG},
};

void log_set_verbose(int on)
{
    verbose = on;
}

void log_to_syslog(void)
{
    openlog(cli_prog, LOG_PID, LOG_DAEMON);
    use_syslog = 1;
}

void log_msg(enum log_level level, const char *fmt, ...)
{
    if (level == LOG_LEVEL_DEBUG && !verbose)
        return;
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (use_syslog)
        syslog(levels[level].priority, "%s", line);
    else
        fprintf(stderr, "%s: %s: %s\n", cli_prog, levels[level].name, line);
}
