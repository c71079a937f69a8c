/* lockfile.h - a file that says which process holds something: an
 * exclusive flock on it for as long as the process lives, and its pid
 * inside for whoever finds it locked. shmcached takes one in each instance
 * directory (shmcached.lock) and one as its pidfile. */
#ifndef SHMCD_LOCKFILE_H
#define SHMCD_LOCKFILE_H

#include <sys/types.h>

/* Open path (created with mode if missing; never through a symbolic link),
 * lock it without waiting and write our pid into it.
 * Returns the descriptor (close-on-exec; closing it releases the lock);
 * -EWOULDBLOCK when another process holds it, with its pid in *holder (0 if
 * it has not written it yet); or another -errno. */
int lockfile_take(const char *path, mode_t mode, pid_t *holder);

#endif
