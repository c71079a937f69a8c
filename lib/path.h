/* path.h - reaching an instance directory without being fooled: no symlink
 * is followed, and nothing another user could have planted is accepted. */
#ifndef SHMC_PATH_H
#define SHMC_PATH_H

#include <sys/types.h>

struct shmc__access {
    int has_group;  /* share with group gid: dirs 0770, files 0660 */
    gid_t gid;
};

/* Resolve opts' group (a name or a number) into a. NULL: no group. */
int shmc__access_from_group(struct shmc__access *a, const char *group);

/* Mode of the instance directory and of its files for a. */
mode_t shmc__dir_mode(const struct shmc__access *a);
mode_t shmc__file_mode(const struct shmc__access *a);

/* Open the instance directory at path, creating it and missing parents
 * if create is set (else a missing one is -ENOENT). Every component is opened with O_NOFOLLOW relative to its parent, so the
 * directory checked is the directory used. Returns an O_PATH-free directory
 * descriptor (close-on-exec) in *dirfd, or SHMC_EUNSAFE, SHMC_EINVAL,
 * -errno with the path and reason in shmc_last_error(). */
int shmc__path_open(const char *path, const struct shmc__access *a,
                    int create, int *dirfd);

/* Check a file of the instance (fd open on it, name for messages): a
 * regular file owned by the caller (root included) or by the configured
 * group, not writable by others, nor by group unless a group is
 * configured. Returns 0 or SHMC_EUNSAFE. */
int shmc__path_check_file(int fd, const char *name,
                          const struct shmc__access *a);

/* The same for an instance file that may not exist yet (name looked up in
 * dirfd without following a symlink; shown is for messages): 0 if absent
 * or acceptable. */
int shmc__path_check_entry(int dirfd, const char *name, const char *shown,
                           const struct shmc__access *a);

/* Give a file or directory created by the instance its group and exact mode
 * (the process umask must not decide who may read the cache). */
int shmc__path_set_access(int fd, const char *name,
                          const struct shmc__access *a, mode_t mode);

#endif
