/* log.h - shmcached's log: "shmcached: LEVEL: message" lines on stderr in
 * the foreground, syslog (facility daemon) once detached. */
#ifndef SHMCD_LOG_H
#define SHMCD_LOG_H

enum log_level {
    LOG_LEVEL_ERROR,
    LOG_LEVEL_WARNING,
    LOG_LEVEL_NOTICE,
    LOG_LEVEL_INFO,
    LOG_LEVEL_DEBUG, /* only with log_set_verbose(1) */
};

void log_set_verbose(int verbose);

/* From now on, send the lines to syslog instead of stderr. */
void log_to_syslog(void);

void log_msg(enum log_level level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#endif
