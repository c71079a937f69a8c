/* errors.c - one table behind shmc_strerror() and shmc_err_name(), and the
 * per-thread detail of the last failure. */
#include "errors.h"

#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "shmcache.h"

static _Thread_local char last_error[512];

const char *shmc_strerror(int err)
{
    switch (err) {
    case 0:
        return "success";
    case SHMC_STALE:
        return "success: the value is stale";
#define SHMC_XX_MSG(name, value, msg) \
    case SHMC_##name:                 \
        return msg;
        SHMC_ERRNO_MAP(SHMC_XX_MSG)
#undef SHMC_XX_MSG
    }
    if (err < 0 && err != INT_MIN) {
        /* strerrordesc_np is thread-safe and never formats into a shared
         * buffer, unlike strerror. */
        const char *desc = strerrordesc_np(-err);
        if (desc)
            return desc;
    }
    return "unknown error";
}

const char *shmc_err_name(int err)
{
    switch (err) {
    case 0:
        return "OK";
    case SHMC_STALE:
        return "SHMC_STALE";
#define SHMC_XX_NAME(name, value, msg) \
    case SHMC_##name:                  \
        return "SHMC_" #name;
        SHMC_ERRNO_MAP(SHMC_XX_NAME)
#undef SHMC_XX_NAME
    }
    if (err < 0 && err != INT_MIN) {
        const char *name = strerrorname_np(-err);
        if (name)
            return name;
    }
    return "UNKNOWN";
}

const char *shmc_last_error(void)
{
    return last_error;
}

void shmc__clear_error(void)
{
    last_error[0] = '\0';
}

int shmc__fail(int err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_error, sizeof last_error, fmt, ap);
    va_end(ap);
    return err;
}
