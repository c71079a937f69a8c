/* settings.h - the settings shmcached runs with: its configuration file
 * read and parsed, the command line's settings on top, the defaults filled
 * in. Used at start and on every SIGHUP. */
#ifndef SHMCD_SETTINGS_H
#define SHMCD_SETTINGS_H

#include "config.h"

#define SETTINGS_UNREADABLE (-1) /* the file could not be read */
#define SETTINGS_INVALID (-2)    /* what it says is wrong */

/* Fill *out from file (NULL: none) and overrides. Returns 0, or one of the
 * codes above after logging why (file and line); *out is empty then. */
int settings_load(const char *file, const struct config *overrides,
                  struct config *out);

#endif
