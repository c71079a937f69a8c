/* settings.c - see settings.h. */
#include "settings.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

/* Read at most max bytes of file into a new buffer (*len its length).
 * Returns the buffer, or NULL with errno set. */
static char *read_bounded(const char *file, size_t max, size_t *len)
{
    int fd = open(file, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0)
        return NULL;
    char *buf = malloc(max);
    size_t n = 0;
    while (buf && n < max) {
        ssize_t got = read(fd, buf + n, max - n);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0) {
            int err = errno;
            free(buf);
            buf = NULL;
            errno = err;
        } else if (got == 0) {
            break;
        } else {
            n += (size_t)got;
        }
    }
    int err = errno;
    close(fd);
    errno = err;
    *len = n;
    return buf;
}

static void log_config_error(const char *file, const struct config_error *e)
{
    const char *where = file ? file : "settings";
    if (e->line)
        log_msg(LOG_LEVEL_ERROR, "%s:%u: %s", where, e->line, e->message);
    else
        log_msg(LOG_LEVEL_ERROR, "%s: %s", where, e->message);
}

int settings_load(const char *file, const struct config *overrides,
                  struct config *out)
{
    struct config_error err = {0};
    config_init(out);
    if (file) {
        size_t len;
        /* One byte more than the parser takes, so that it sees a file
         * that is too large as one. */
        char *buf = read_bounded(file, CONFIG_MAX_BYTES + 1, &len);
        if (!buf) {
            log_msg(LOG_LEVEL_ERROR, "%s: %s", file, strerror(errno));
            return SETTINGS_UNREADABLE;
        }
        int rc = config_parse(buf, len, out, &err);
        free(buf);
        if (rc) {
            log_config_error(file, &err);
            return SETTINGS_INVALID;
        }
    }
    if (config_merge(out, overrides)) {
        config_free(out);
        log_msg(LOG_LEVEL_ERROR, "out of memory");
        return SETTINGS_UNREADABLE;
    }
    if (config_finish(out, &err)) {
        config_free(out);
        log_config_error(file, &err);
        return SETTINGS_INVALID;
    }
    return 0;
}
