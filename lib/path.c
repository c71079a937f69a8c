/* path.c - open an instance directory safely (see path.h).
 *
 * /dev/shm is writable by every user, so the path to an instance may have
 * been prepared by someone else: a symlink to their own directory (to read
 * what we store) or a directory of theirs (to feed us entries). Each
 * component is opened relative to the descriptor of its parent with
 * O_NOFOLLOW and checked with fstat on that descriptor, so there is no
 * window between the check and the use.
 *
 * Users share a root such as /dev/shm/shmcache as they share /tmp. A
 * public directory (writable by all, with the sticky bit) is accepted on
 * the way whoever owns it, and one created on the way inside a public
 * directory is made public too (01777): whoever opens an instance there
 * first creates the root, and every user then makes their own instance
 * directory in it. The sticky bit keeps users from removing or renaming
 * each other's entries; the root's owner still can, so nothing below it
 * is trusted for its name: the instance directory must be the caller's
 * (root included) or its configured group's and writable by no one else,
 * and what is in it is reached through its descriptor. The worst the
 * owner of a shared root can do is remove instances, never read or feed
 * one. Everywhere else a directory on the way must be owned by root or
 * the caller, and directories created there are 0755. */
#include "path.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "errors.h"
#include "shmcache.h"

/* Parents created on the way: others may pass through, not write... */
#define PARENT_MODE 0755
/* ...unless created in a public directory: a root that users share. */
#define SHARED_ROOT_MODE 01777

int shmc__access_from_group(struct shmc__access *a, const char *group)
{
    a->has_group = 0;
    a->gid = (gid_t)-1;
    if (!group)
        return 0;
    char *end;
    errno = 0;
    unsigned long n = strtoul(group, &end, 10);
    if (*group && *end == '\0' && errno == 0 && n < (gid_t)-1) {
        a->gid = (gid_t)n;
    } else {
        struct group gr, *found = NULL;
        char buf[4096];
        int rc = getgrnam_r(group, &gr, buf, sizeof buf, &found);
        if (rc || !found)
            return shmc__fail(SHMC_EINVAL, "group '%s': no such group",
                              group);
        a->gid = found->gr_gid;
    }
    a->has_group = 1;
    return 0;
}

mode_t shmc__dir_mode(const struct shmc__access *a)
{
    return a->has_group ? 0770 : 0700;
}

mode_t shmc__file_mode(const struct shmc__access *a)
{
    return a->has_group ? 0660 : 0600;
}

int shmc__path_set_access(int fd, const char *name,
                          const struct shmc__access *a, mode_t mode)
{
    struct stat st;
    /* Already right: nothing to change (and a group member other than the
     * owner could not change it). */
    if (fstat(fd, &st) == 0 && (st.st_mode & 07777) == mode &&
        (!a->has_group || st.st_gid == a->gid))
        return 0;
    if (a->has_group && fchown(fd, (uid_t)-1, a->gid) < 0)
        return shmc__fail(-errno, "%s: cannot give it group %u: %s", name,
                          (unsigned)a->gid, strerror(errno));
    if (fchmod(fd, mode) < 0)
        return shmc__fail(-errno, "%s: chmod: %s", name, strerror(errno));
    return 0;
}

static int check_owned(const struct stat *st, const char *name,
                       const struct shmc__access *a, int want_dir)
{
    uid_t me = geteuid();
    if (want_dir ? !S_ISDIR(st->st_mode) : !S_ISREG(st->st_mode))
        return shmc__fail(SHMC_EUNSAFE, "%s: not a %s", name,
                          want_dir ? "directory" : "regular file");
    /* Only root and members of the group can give a file that group. Root
     * is no exception to the owner: the owner of a directory can swap the
     * files in it while they are being checked and opened. */
    int group_shared = a->has_group && st->st_gid == a->gid;
    if (st->st_uid != me && !group_shared)
        return shmc__fail(SHMC_EUNSAFE, "%s: owned by uid %u, not by uid %u",
                          name, (unsigned)st->st_uid, (unsigned)me);
    if (st->st_mode & S_IWOTH)
        return shmc__fail(SHMC_EUNSAFE, "%s: writable by others (mode %04o)",
                          name, (unsigned)(st->st_mode & 07777));
    if ((st->st_mode & S_IWGRP) && !(a->has_group && st->st_gid == a->gid))
        return shmc__fail(SHMC_EUNSAFE,
                          "%s: writable by group %u, which was not configured "
                          "(mode %04o)",
                          name, (unsigned)st->st_gid,
                          (unsigned)(st->st_mode & 07777));
    return 0;
}

/* Every user may create entries in it, and the sticky bit keeps them from
 * removing or renaming what is not theirs: /tmp, /dev/shm, a shared root. */
static int is_public(const struct stat *st)
{
    return S_ISDIR(st->st_mode) && (st->st_mode & S_IWOTH) &&
           (st->st_mode & S_ISVTX);
}

/* A directory above the instance: public, or one that only root or the
 * caller could have put there, which if others may write in it has the
 * sticky bit. */
static int check_parent(const struct stat *st, const char *name)
{
    if (is_public(st))
        return 0;
    if ((st->st_mode & (S_IWGRP | S_IWOTH)) && !(st->st_mode & S_ISVTX))
        return shmc__fail(SHMC_EUNSAFE,
                          "%s: writable by others without the sticky bit "
                          "(mode %04o)",
                          name, (unsigned)(st->st_mode & 07777));
    if (st->st_uid != 0 && st->st_uid != geteuid())
        return shmc__fail(SHMC_EUNSAFE,
                          "%s: owned by uid %u, neither root nor uid %u, and "
                          "not public (writable by all with the sticky bit, "
                          "mode %04o)",
                          name, (unsigned)st->st_uid, (unsigned)geteuid(),
                          (unsigned)(st->st_mode & 07777));
    return 0;
}

/* Permission to open comp was denied: say whose it is, which tells another
 * user's private instance from a mode that keeps its owner out. */
static int fail_denied(int parent, const char *comp, const char *shown)
{
    struct stat st;
    if (fstatat(parent, comp, &st, AT_SYMLINK_NOFOLLOW) < 0)
        return shmc__fail(-EACCES, "%s: %s", shown, strerror(EACCES));
    return shmc__fail(-EACCES, "%s: %s (owned by uid %u, mode %04o; this "
                               "process is uid %u)",
                      shown, strerror(EACCES), (unsigned)st.st_uid,
                      (unsigned)(st.st_mode & 07777), (unsigned)geteuid());
}

/* Open one component below parent, creating it with mode if absent
 * (mode 0: absent is -ENOENT). *created says whether this call made it. */
static int open_component(int parent, const char *comp, const char *shown,
                          mode_t mode, int *fd, int *created)
{
    *created = 0;
    for (int attempt = 0; attempt < 2; attempt++) {
        *fd = openat(parent, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
                                       O_CLOEXEC);
        if (*fd >= 0)
            return 0;
        int err = errno;
        if (err == ELOOP || err == ENOTDIR) {
            struct stat st;
            if (fstatat(parent, comp, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
                S_ISLNK(st.st_mode))
                return shmc__fail(SHMC_EUNSAFE,
                                  "%s: a symbolic link (never followed)",
                                  shown);
            return shmc__fail(SHMC_EUNSAFE, "%s: not a directory", shown);
        }
        if (err == EACCES)
            return fail_denied(parent, comp, shown);
        if (err != ENOENT || mode == 0)
            return shmc__fail(-err, "%s: %s", shown, strerror(err));
        if (mkdirat(parent, comp, mode) == 0)
            *created = 1;
        else if (errno != EEXIST) /* another process made it: open it */
            return shmc__fail(-errno, "%s: cannot create: %s", shown,
                              strerror(errno));
    }
    return shmc__fail(-ENOENT, "%s: vanished while being opened", shown);
}

/* Whether path has a '..' component. */
static int has_dotdot(const char *path)
{
    for (const char *p = path; (p = strstr(p, "..")) != NULL; p += 2)
        if ((p == path || p[-1] == '/') && (p[2] == '/' || p[2] == '\0'))
            return 1;
    return 0;
}

int shmc__path_open(const char *path, const struct shmc__access *a,
                    int create, int *dirfd)
{
    size_t len = path ? strlen(path) : 0;
    if (len == 0 || len >= PATH_MAX)
        return shmc__fail(SHMC_EINVAL, "instance path empty or too long");
    /* Checked before the walk, which creates what is missing on the way. */
    if (has_dotdot(path))
        return shmc__fail(SHMC_EINVAL, "%s: '..' is not accepted", path);
    char shown[PATH_MAX];
    char *copy = strdup(path);
    if (!copy)
        return shmc__fail(-ENOMEM, "no memory");
    while (len > 1 && copy[len - 1] == '/')
        copy[--len] = '\0';

    /* st: the directory the walk has reached, which decides how a missing
     * component below it is made. */
    struct stat st;
    int fd = open(path[0] == '/' ? "/" : ".",
                  O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int rc = fd < 0 || fstat(fd, &st) < 0
                 ? shmc__fail(-errno, "%s: %s", path, strerror(errno))
                 : 0;
    char *save = NULL;
    char *comp = strtok_r(copy, "/", &save);
    if (rc == 0 && !comp)
        rc = shmc__fail(SHMC_EINVAL, "%s: not an instance directory", path);
    while (rc == 0 && comp) {
        char *next = strtok_r(NULL, "/", &save);
        int last = next == NULL;
        /* shown: the path up to this component, for messages. */
        snprintf(shown, sizeof shown, "%.*s",
                 (int)(comp - copy + strlen(comp)), path);
        if (strcmp(comp, ".") == 0 && !last) {
            comp = next;
            continue;
        }
        int child, created;
        mode_t mode = last             ? shmc__dir_mode(a)
                      : is_public(&st) ? SHARED_ROOT_MODE
                                       : PARENT_MODE;
        rc = open_component(fd, comp, shown, create ? mode : 0, &child,
                            &created);
        if (rc)
            break;
        close(fd);
        fd = child;
        if (last && created)
            rc = shmc__path_set_access(fd, shown, a, mode);
        else if (created && fchmod(fd, mode) < 0)
            rc = shmc__fail(-errno, "%s: chmod: %s", shown, strerror(errno));
        if (rc == 0 && fstat(fd, &st) < 0)
            rc = shmc__fail(-errno, "%s: %s", shown, strerror(errno));
        if (rc == 0)
            rc = last ? check_owned(&st, shown, a, 1)
                      : check_parent(&st, shown);
        comp = next;
    }
    free(copy);
    if (rc) {
        if (fd >= 0)
            close(fd);
        return rc;
    }
    *dirfd = fd;
    return 0;
}

int shmc__path_check_file(int fd, const char *name,
                          const struct shmc__access *a)
{
    struct stat st;
    if (fstat(fd, &st) < 0)
        return shmc__fail(-errno, "%s: %s", name, strerror(errno));
    return check_owned(&st, name, a, 0);
}

int shmc__path_check_entry(int dirfd, const char *name, const char *shown,
                           const struct shmc__access *a)
{
    struct stat st;
    if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
        return errno == ENOENT
                   ? 0
                   : shmc__fail(-errno, "%s: %s", shown, strerror(errno));
    if (S_ISLNK(st.st_mode))
        return shmc__fail(SHMC_EUNSAFE, "%s: a symbolic link", shown);
    return check_owned(&st, shown, a, 0);
}
