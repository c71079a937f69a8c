/* instance.c - the per-process registry of open instances (see instance.h).
 */
#include "instance.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "errors.h"
#include "keys.h"
#include "record.h"

_Atomic uint64_t shmc__fork_generation;

static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;
static struct shmc__instance *registry;
/* Instances inherited through fork: never used or freed again, kept on a
 * list only so that they stay reachable (leak checkers, debuggers). */
static struct shmc__instance *abandoned;

static void fork_prepare(void)
{
    pthread_mutex_lock(&registry_lock);
    shmc__store_fork_prepare();
}

static void fork_parent(void)
{
    shmc__store_fork_parent();
    pthread_mutex_unlock(&registry_lock);
}

static void fork_child(void)
{
    shmc__store_fork_child();
    while (registry) {
        struct shmc__instance *inst = registry;
        registry = inst->next;
        inst->next = abandoned;
        abandoned = inst;
    }
    atomic_fetch_add(&shmc__fork_generation, 1);
    pthread_mutex_init(&registry_lock, NULL);
}

static void register_atfork(void)
{
    pthread_atfork(fork_prepare, fork_parent, fork_child);
}

/* The map must fit the file system it lives on, or writes to it would
 * raise SIGBUS instead of failing (tmpfs is sized to half the RAM by
 * default). Checked before an instance is made, so that a refused open
 * leaves nothing behind; an existing instance keeps the map it was made
 * with. */
static int check_new_map_fits(int dirfd, const char *path, uint64_t map_size)
{
    struct stat st;
    struct statvfs fs;
    if (fstatat(dirfd, SHMC__CONTROL_NAME, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
        st.st_size > 0)
        return 0;
    if (fstatvfs(dirfd, &fs) < 0)
        return shmc__fail(-errno, "%s: statvfs: %s", path, strerror(errno));
    uint64_t total = (uint64_t)fs.f_blocks * fs.f_frsize;
    if (total && map_size > total)
        return shmc__fail(SHMC_EINVAL,
                          "%s: map size %llu is larger than its file system "
                          "(%llu bytes)",
                          path, (unsigned long long)map_size,
                          (unsigned long long)total);
    return 0;
}

static const char *const lmdb_files[] = {"data.mdb", "lock.mdb"};
#define LMDB_FILES (sizeof lmdb_files / sizeof lmdb_files[0])

/* Check the LMDB files (if present) before LMDB opens them by name. */
static int check_lmdb_files(int dirfd, const char *path,
                            const struct shmc__access *a)
{
    char shown[4096];
    for (size_t i = 0; i < LMDB_FILES; i++) {
        snprintf(shown, sizeof shown, "%s/%s", path, lmdb_files[i]);
        int rc = shmc__path_check_entry(dirfd, lmdb_files[i], shown, a);
        if (rc)
            return rc;
    }
    return 0;
}

static int give_lmdb_files_access(int dirfd, const char *path,
                                  const struct shmc__access *a)
{
    for (size_t i = 0; i < LMDB_FILES; i++) {
        int fd = openat(dirfd, lmdb_files[i],
                        O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
            return shmc__fail(-errno, "%s/%s: %s", path, lmdb_files[i],
                              strerror(errno));
        int rc = shmc__path_set_access(fd, lmdb_files[i], a,
                                       shmc__file_mode(a));
        close(fd);
        if (rc)
            return rc;
    }
    return 0;
}

static unsigned power_of_two_above(unsigned want)
{
    unsigned n = 1;
    while (n < want)
        n <<= 1;
    return n;
}

/* Whether dirfd holds an instance someone finished making. */
static int instance_exists(int dirfd)
{
    struct stat st;
    for (size_t i = 0; i < LMDB_FILES; i++)
        if (fstatat(dirfd, lmdb_files[i], &st, AT_SYMLINK_NOFOLLOW) < 0)
            return 0;
    return fstatat(dirfd, SHMC__CONTROL_NAME, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
           (size_t)st.st_size >= sizeof(struct shmc__control_header);
}

static int instance_open(struct shmc__instance *inst, int dirfd,
                         const shmc_cache *c, const struct shmc__access *a)
{
    struct shmc__control_config ccfg = {
        .map_size = c->opts.map_size ? c->opts.map_size
                                     : SHMC_DEFAULT_MAP_SIZE,
        .max_readers = c->opts.max_readers ? c->opts.max_readers
                                           : SHMC_DEFAULT_MAX_READERS,
        .lock_slots = power_of_two_above(c->opts.lock_slots
                                             ? c->opts.lock_slots
                                             : SHMC_DEFAULT_LOCK_SLOTS),
        .recency_slots = power_of_two_above(c->opts.recency_slots
                                                ? c->opts.recency_slots
                                                : SHMC_DEFAULT_RECENCY_SLOTS),
    };
    if ((c->opts.flags & SHMC_OPEN_NOCREATE) && !instance_exists(dirfd))
        return shmc__fail(-ENOENT, "%s: no instance there", c->path);
    long page = sysconf(_SC_PAGESIZE);
    ccfg.map_size = (ccfg.map_size + (uint64_t)page - 1) / (uint64_t)page *
                    (uint64_t)page;
    int rc = check_new_map_fits(dirfd, c->path, ccfg.map_size);
    if (rc)
        return rc;
    rc = shmc__control_open(&inst->ctl, dirfd, c->path, a, &ccfg);
    if (rc)
        return rc;
    /* LMDB opens its files by name: through the directory checked and
     * held as dirfd, not through c->path, which whoever owns a directory
     * on the way (a shared root, see path.c) could meanwhile point
     * elsewhere. */
    char open_dir[32];
    snprintf(open_dir, sizeof open_dir, "/proc/self/fd/%d", dirfd);
    /* Holding the control lock: no other process opens or closes LMDB. */
    struct shmc__store_config scfg = {
        .dir = c->path,
        .open_dir = open_dir,
        .map_size = inst->ctl.hdr->map_size,
        .max_readers = inst->ctl.hdr->max_readers,
        .file_mode = shmc__file_mode(a),
    };
    rc = check_lmdb_files(dirfd, c->path, a);
    if (rc == 0)
        rc = shmc__store_open(&inst->store, &scfg);
    if (rc == 0 && a->has_group)
        rc = give_lmdb_files_access(dirfd, c->path, a);
    shmc__control_unlock(&inst->ctl);
    if (rc) {
        if (inst->store)
            shmc__store_close(inst->store);
        shmc__control_close(&inst->ctl);
        return rc;
    }
    inst->shard = shmc__control_shard(&inst->ctl, (unsigned)getpid());
    inst->max_direct_key = shmc__store_max_key(inst->store);
    if (inst->max_direct_key > SHMC__MAX_DIRECT_KEY)
        inst->max_direct_key = SHMC__MAX_DIRECT_KEY;
    inst->max_record = inst->ctl.hdr->map_size / 2;
    return 0;
}

static void instance_close(struct shmc__instance *inst)
{
    /* Serialise with other processes' opens, as instance_open does. */
    int locked = shmc__control_lock(&inst->ctl) == 0;
    shmc__store_close(inst->store);
    if (locked)
        shmc__control_unlock(&inst->ctl);
    shmc__control_close(&inst->ctl);
    free(inst->path);
    free(inst);
}

/* Under registry_lock. */
static int acquire(shmc_cache *c, struct shmc__instance **out)
{
    struct shmc__access a;
    int dirfd;
    int rc = shmc__access_from_group(&a, c->group);
    if (rc == 0)
        rc = shmc__path_open(c->path, &a,
                             !(c->opts.flags & SHMC_OPEN_NOCREATE), &dirfd);
    if (rc)
        return rc;
    struct stat st;
    if (fstat(dirfd, &st) < 0) {
        rc = shmc__fail(-errno, "%s: %s", c->path, strerror(errno));
        close(dirfd);
        return rc;
    }
    for (struct shmc__instance *i = registry; i; i = i->next) {
        if (i->dev == st.st_dev && i->ino == st.st_ino) {
            i->refs++;
            close(dirfd);
            *out = i;
            return 0;
        }
    }
    struct shmc__instance *inst = calloc(1, sizeof *inst);
    char *path = strdup(c->path);
    if (!inst || !path) {
        free(inst);
        free(path);
        close(dirfd);
        return shmc__fail(-ENOMEM, "no memory for an instance");
    }
    rc = instance_open(inst, dirfd, c, &a);
    close(dirfd);
    if (rc) {
        free(path);
        free(inst);
        return rc;
    }
    inst->dev = st.st_dev;
    inst->ino = st.st_ino;
    inst->path = path;
    inst->refs = 1;
    inst->next = registry;
    registry = inst;
    *out = inst;
    return 0;
}

int shmc__instance_attach(shmc_cache *c)
{
    pthread_once(&atfork_once, register_atfork);
    pthread_mutex_lock(&registry_lock);
    uint64_t gen = atomic_load(&shmc__fork_generation);
    int rc = 0;
    /* Another thread may have reattached c while this one waited. */
    if (!c->inst || atomic_load(&c->generation) != gen) {
        struct shmc__instance *inst = NULL;
        rc = acquire(c, &inst);
        if (rc == 0) {
            c->inst = inst;
            c->protect.keying.max_direct = inst->max_direct_key;
            c->protect.max_value = inst->max_record;
            atomic_store_explicit(&c->generation, gen, memory_order_release);
        }
    }
    pthread_mutex_unlock(&registry_lock);
    return rc;
}

void shmc__instance_detach(shmc_cache *c)
{
    pthread_mutex_lock(&registry_lock);
    struct shmc__instance *inst = c->inst;
    /* An instance from before a fork belongs to the parent: leave it. */
    if (inst && atomic_load(&c->generation) ==
                    atomic_load(&shmc__fork_generation) &&
        --inst->refs == 0) {
        struct shmc__instance **pp = &registry;
        while (*pp != inst)
            pp = &(*pp)->next;
        *pp = inst->next;
        instance_close(inst);
    }
    c->inst = NULL;
    pthread_mutex_unlock(&registry_lock);
}
