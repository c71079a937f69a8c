/* control.c - create, validate and map control.shm (see control.h).
 *
 * Many workers may start at the same instant. Initialisation is serialised
 * with flock() and the magic is stored last, with release order: a process
 * that sees the magic sees a complete header. A file whose magic is zero
 * was never finished (its creator died), and since every user checks the
 * magic under the same lock before using the file, nobody can be using it:
 * it is initialised again. Any other mismatch is an error, never a silent
 * re-initialisation under processes that hold its memory. */
#include "control.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "clock.h"
#include "errors.h"
#include "record.h"
#include "shmcache.h"

static size_t round_up(size_t n, size_t to)
{
    return (n + to - 1) / to * to;
}

_Static_assert(sizeof(pthread_mutex_t) <= SHMC__CACHE_LINE,
               "a lock slot is one cache line");

struct layout {
    size_t counters_offset, stamps_offset, locks_offset, recency_offset, size;
};

static struct layout layout_of(uint32_t lock_slots, uint32_t recency_slots)
{
    struct layout l;
    l.counters_offset = round_up(sizeof(struct shmc__control_header),
                                 SHMC__CACHE_LINE);
    l.stamps_offset = l.counters_offset + (size_t)SHMC__COUNTER_SHARDS *
                                              SHMC__COUNTERS_PER_SHARD *
                                              sizeof(uint64_t);
    l.locks_offset = round_up(l.stamps_offset +
                                  ((size_t)SHMC__STAMP_SLOTS + 1) *
                                      sizeof(uint64_t),
                              SHMC__CACHE_LINE);
    l.recency_offset = l.locks_offset + (size_t)lock_slots * SHMC__CACHE_LINE;
    l.size = l.recency_offset + recency_slots;
    return l;
}

/* Robust: a holder that dies hands the next locker EOWNERDEAD instead of a
 * hang. Recursive: a thread that locks two keys sharing a slot (or one key
 * twice) does not deadlock on itself. */
static int init_locks(struct shmc__control *ctl, const char *dirpath)
{
    pthread_mutexattr_t attr;
    int rc = pthread_mutexattr_init(&attr);
    if (rc == 0)
        rc = pthread_mutexattr_setpshared(&attr, PTHREAD_PROCESS_SHARED);
    if (rc == 0)
        rc = pthread_mutexattr_setrobust(&attr, PTHREAD_MUTEX_ROBUST);
    if (rc == 0)
        rc = pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_RECURSIVE);
    for (uint32_t i = 0; rc == 0 && i < ctl->hdr->lock_slots; i++)
        rc = pthread_mutex_init(shmc__control_lock_slot(ctl, i), &attr);
    pthread_mutexattr_destroy(&attr);
    return rc ? shmc__fail(-rc, "%s/control.shm: lock table: %s", dirpath,
                           strerror(rc))
              : 0;
}

int shmc__control_lock(struct shmc__control *ctl)
{
    while (flock(ctl->fd, LOCK_EX) < 0)
        if (errno != EINTR)
            return shmc__fail(-errno, "flock control.shm: %s",
                              strerror(errno));
    return 0;
}

void shmc__control_unlock(struct shmc__control *ctl)
{
    flock(ctl->fd, LOCK_UN);
}

static int initialise(struct shmc__control *ctl, const char *dirpath,
                      const struct shmc__control_config *cfg)
{
    struct layout l = layout_of(cfg->lock_slots, cfg->recency_slots);
    size_t size = l.size;
    /* Start from zeros whatever a dead creator left. */
    if (ftruncate(ctl->fd, 0) < 0 || ftruncate(ctl->fd, (off_t)size) < 0)
        return shmc__fail(-errno, "%s/control.shm: cannot size: %s", dirpath,
                          strerror(errno));
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, ctl->fd, 0);
    if (p == MAP_FAILED)
        return shmc__fail(-errno, "%s/control.shm: mmap: %s", dirpath,
                          strerror(errno));
    struct shmc__control_header *h = p;
    h->layout_version = SHMC__LAYOUT_VERSION;
    h->header_size = sizeof *h;
    h->mutex_size = sizeof(pthread_mutex_t);
    h->counter_shards = SHMC__COUNTER_SHARDS;
    h->counters_per_shard = SHMC__COUNTERS_PER_SHARD;
    h->max_readers = cfg->max_readers;
    h->file_size = size;
    h->counters_offset = l.counters_offset;
    h->stamps_offset = l.stamps_offset;
    h->stamp_slots = SHMC__STAMP_SLOTS;
    h->lock_slots = cfg->lock_slots;
    h->locks_offset = l.locks_offset;
    h->recency_slots = cfg->recency_slots;
    h->recency_offset = l.recency_offset;
    h->map_size = cfg->map_size;
    h->created_at_ms = shmc__now_ms();
    ctl->hdr = h;
    ctl->size = size;
    ctl->locks = (unsigned char *)h + l.locks_offset;
    int rc = init_locks(ctl, dirpath);
    if (rc)
        return rc;
    atomic_store_explicit(&h->magic, SHMC__CONTROL_MAGIC,
                          memory_order_release);
    return 0;
}

static int validate(struct shmc__control *ctl, const char *dirpath,
                    size_t file_size)
{
    struct shmc__control_header *h;
    if (file_size < sizeof *h)
        return shmc__fail(SHMC_ECORRUPT,
                          "%s/control.shm: %zu bytes, shorter than a header",
                          dirpath, file_size);
    void *p = mmap(NULL, file_size, PROT_READ | PROT_WRITE, MAP_SHARED,
                   ctl->fd, 0);
    if (p == MAP_FAILED)
        return shmc__fail(-errno, "%s/control.shm: mmap: %s", dirpath,
                          strerror(errno));
    h = p;
    ctl->hdr = h;
    ctl->size = file_size;
    uint64_t magic = atomic_load_explicit(&h->magic, memory_order_acquire);
    if (magic != SHMC__CONTROL_MAGIC)
        return shmc__fail(SHMC_ECORRUPT,
                          "%s/control.shm: not a shmcache control file "
                          "(magic %016llx)",
                          dirpath, (unsigned long long)magic);
    if (h->layout_version != SHMC__LAYOUT_VERSION)
        return shmc__fail(SHMC_EVERSION,
                          "%s/control.shm: layout version %u, this library "
                          "uses %u",
                          dirpath, h->layout_version, SHMC__LAYOUT_VERSION);
    if (h->mutex_size != sizeof(pthread_mutex_t))
        return shmc__fail(SHMC_EVERSION,
                          "%s/control.shm: made with %u-byte mutexes, this "
                          "library has %zu-byte mutexes",
                          dirpath, h->mutex_size, sizeof(pthread_mutex_t));
    uint32_t slots = h->lock_slots, marks = h->recency_slots;
    int slots_ok = slots && slots <= SHMC__MAX_LOCK_SLOTS &&
                   !(slots & (slots - 1));
    int marks_ok = marks && marks <= SHMC__MAX_RECENCY_SLOTS &&
                   !(marks & (marks - 1));
    struct layout l = layout_of(slots_ok ? slots : 0, marks_ok ? marks : 0);
    if (!slots_ok || !marks_ok || h->locks_offset != l.locks_offset ||
        h->recency_offset != l.recency_offset ||
        h->header_size != sizeof *h || h->file_size != file_size ||
        file_size != l.size || h->counters_offset != l.counters_offset ||
        h->stamps_offset != l.stamps_offset ||
        h->stamp_slots != SHMC__STAMP_SLOTS ||
        h->counter_shards != SHMC__COUNTER_SHARDS ||
        h->counters_per_shard != SHMC__COUNTERS_PER_SHARD ||
        h->map_size == 0 || h->max_readers == 0)
        return shmc__fail(SHMC_ECORRUPT,
                          "%s/control.shm: header fields inconsistent", dirpath);
    return 0;
}

int shmc__control_open(struct shmc__control *ctl, int dirfd,
                       const char *dirpath, const struct shmc__access *a,
                       const struct shmc__control_config *cfg)
{
    memset(ctl, 0, sizeof *ctl);
    ctl->fd = openat(dirfd, SHMC__CONTROL_NAME,
                     O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC,
                     shmc__file_mode(a));
    if (ctl->fd < 0)
        return shmc__fail(errno == ELOOP ? SHMC_EUNSAFE : -errno,
                          "%s/control.shm: %s", dirpath,
                          errno == ELOOP ? "a symbolic link" : strerror(errno));
    char name[4096];
    snprintf(name, sizeof name, "%s/" SHMC__CONTROL_NAME, dirpath);
    int rc = shmc__path_check_file(ctl->fd, name, a);
    if (rc == 0)
        rc = shmc__control_lock(ctl);
    if (rc) {
        close(ctl->fd);
        return rc;
    }
    struct stat st;
    if (fstat(ctl->fd, &st) < 0) {
        rc = shmc__fail(-errno, "%s: %s", name, strerror(errno));
    } else {
        uint64_t magic = 0;
        if ((size_t)st.st_size >= sizeof magic &&
            pread(ctl->fd, &magic, sizeof magic, 0) != (ssize_t)sizeof magic)
            rc = shmc__fail(-errno, "%s: %s", name, strerror(errno));
        else if (magic == 0) {
            rc = shmc__path_set_access(ctl->fd, name, a, shmc__file_mode(a));
            if (rc == 0)
                rc = initialise(ctl, dirpath, cfg);
        } else
            rc = validate(ctl, dirpath, (size_t)st.st_size);
    }
    if (rc) {
        shmc__control_close(ctl);
        return rc;
    }
    ctl->counters = (_Atomic uint64_t *)((char *)ctl->hdr +
                                         ctl->hdr->counters_offset);
    ctl->stamps = (_Atomic uint64_t *)((char *)ctl->hdr +
                                       ctl->hdr->stamps_offset);
    ctl->locks = (unsigned char *)ctl->hdr + ctl->hdr->locks_offset;
    ctl->recency = (_Atomic unsigned char *)ctl->hdr +
                   ctl->hdr->recency_offset;
    return 0;
}

uint64_t shmc__control_next_version(struct shmc__control *ctl,
                                    uint64_t now_ms)
{
    uint64_t last = atomic_load(&ctl->hdr->last_version), next;
    do {
        uint64_t clock = now_ms << SHMC__VERSION_SHIFT;
        next = clock > last ? clock : last + 1;
    } while (!atomic_compare_exchange_weak(&ctl->hdr->last_version, &last,
                                           next));
    return next;
}

void shmc__control_close(struct shmc__control *ctl)
{
    if (ctl->hdr)
        munmap(ctl->hdr, ctl->size);
    if (ctl->fd >= 0)
        close(ctl->fd); /* also releases our flock */
    ctl->hdr = NULL;
    ctl->fd = -1;
}
