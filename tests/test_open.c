/* test_open.c - opening an instance: creation and reopening, sharing one
 * environment inside a process, path safety, version and corruption checks
 * of control.shm and of the LMDB files, many processes creating one
 * instance at once, and a process killed with the instance open.
 *
 * Every refusal is caused for real (a planted symlink, a patched header, a
 * foreign LMDB environment, another uid) and checked by its exact return
 * code and by what shmc_last_error() says about it. */
#include "testutil.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <lmdb.h>
#include <pwd.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include "control.h"

#define SMALL_MAP (16u << 20)
#define MIN_MAP (1u << 20)

static const shmc_opts small_opts = {.map_size = SMALL_MAP};
static const char *const instance_files[] = {SHMC__CONTROL_NAME, "data.mdb",
                                             "lock.mdb"};
#define INSTANCE_FILES (sizeof instance_files / sizeof instance_files[0])
/* For a child that opens an instance once or twice. */
#define ONE_CHILD_TIMEOUT_S (tu_under_valgrind() ? 120 : 20)

/* What a test may change in the process, restored by the teardown even
 * when the test fails half-way. */
struct fixture {
    struct tu_dir d;
    char cwd[PATH_MAX];
    mode_t umask;
    pid_t kids[2]; /* children still to kill and reap, 0 when none */
};

static int fixture_setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    if (!f || !getcwd(f->cwd, sizeof f->cwd)) {
        free(f);
        return -1;
    }
    f->umask = umask(022);
    umask(f->umask);
    tu_dir_make(&f->d);
    *state = f;
    return 0;
}

static int fixture_teardown(void **state)
{
    struct fixture *f = *state;
    for (size_t i = 0; i < sizeof f->kids / sizeof f->kids[0]; i++) {
        if (f->kids[i] > 0) {
            kill(f->kids[i], SIGKILL);
            waitpid(f->kids[i], NULL, 0);
        }
    }
    umask(f->umask);
    int rc = chdir(f->cwd);
    tu_dir_remove(&f->d);
    free(f);
    return rc;
}

/* dir/name in buf, which has room for PATH_MAX bytes. */
static char *path_in(char *buf, const char *dir, const char *name)
{
    int n = snprintf(buf, PATH_MAX, "%s/%s", dir, name);
    if (n < 0 || n >= PATH_MAX)
        fail_msg("path too long: %s/%s", dir, name);
    return buf;
}

/* ---- assertions ------------------------------------------------------ */

static void assert_error_mentions(const char *needle)
{
    const char *msg = shmc_last_error();
    if (!strstr(msg, needle))
        fail_msg("shmc_last_error() \"%s\" does not mention \"%s\"", msg,
                 needle);
}

static shmc_cache *open_ok(const char *path, const shmc_opts *opts)
{
    shmc_cache *c = NULL;
    tu_assert_rc(shmc_open(&c, path, opts), 0);
    assert_non_null(c);
    return c;
}

/* The documented contract: on failure *out is left as it was. */
static void assert_open_fails(const char *path, const shmc_opts *opts,
                              int expected)
{
    static char untouched;
    shmc_cache *c = (shmc_cache *)&untouched;
    int rc = shmc_open(&c, path, opts);
    if (rc == 0) {
        shmc_close(c);
        fail_msg("shmc_open(%s) succeeded, expected %s", path,
                 shmc_err_name(expected));
    }
    tu_assert_rc(rc, expected);
    assert_ptr_equal(c, (shmc_cache *)&untouched);
}

static void assert_absent(const char *path)
{
    struct stat st;
    if (lstat(path, &st) == 0)
        fail_msg("%s exists, but nothing should have created it", path);
    assert_int_equal(errno, ENOENT);
}

static void assert_file(const char *path, mode_t type, mode_t perms,
                        gid_t gid)
{
    struct stat st;
    if (lstat(path, &st) < 0)
        fail_msg("%s: %s", path, strerror(errno));
    if ((st.st_mode & S_IFMT) != type)
        fail_msg("%s: file type %o, expected %o", path,
                 (unsigned)(st.st_mode & S_IFMT), (unsigned)type);
    if ((st.st_mode & 07777) != perms)
        fail_msg("%s: mode %04o, expected %04o", path,
                 (unsigned)(st.st_mode & 07777), (unsigned)perms);
    if (st.st_uid != geteuid())
        fail_msg("%s: owned by uid %u, not by us", path,
                 (unsigned)st.st_uid);
    if (st.st_gid != gid)
        fail_msg("%s: group %u, expected %u", path, (unsigned)st.st_gid,
                 (unsigned)gid);
}

/* The instance directory and its three files, as shmc_open makes them. */
static void assert_instance_modes(const char *inst, mode_t dir_mode,
                                  mode_t file_mode, gid_t gid)
{
    char p[PATH_MAX];
    assert_file(inst, S_IFDIR, dir_mode, gid);
    for (size_t i = 0; i < INSTANCE_FILES; i++)
        assert_file(path_in(p, inst, instance_files[i]), S_IFREG, file_mode,
                    gid);
}

static int count_entries(const char *dir)
{
    DIR *dp = opendir(dir);
    if (!dp)
        fail_msg("%s: %s", dir, strerror(errno));
    int n = 0;
    for (struct dirent *e; (e = readdir(dp));)
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
            n++;
    closedir(dp);
    return n;
}

static void make_dir(const char *path, mode_t mode)
{
    if (mkdir(path, mode) < 0 || chmod(path, mode) < 0)
        fail_msg("%s: %s", path, strerror(errno));
}

/* ---- entries --------------------------------------------------------- */

/* Safe in forked children: 0 when key holds want, SHMC_ENOTFOUND when it
 * is absent, anything else after saying why on stderr. Not
 * tu_check_value: a racer expects other racers' keys to be absent, so an
 * absent key is told apart, and quietly. */
static int check_value(shmc_cache *c, const char *key, const char *want)
{
    char buf[64];
    size_t len = sizeof buf;
    int rc = shmc_get(c, key, strlen(key), buf, &len, NULL, 0);
    if (rc == SHMC_ENOTFOUND)
        return rc;
    if (rc) {
        fprintf(stderr, "get %s: %s: %s\n", key, shmc_err_name(rc),
                shmc_last_error());
        return rc;
    }
    if (len != strlen(want) || memcmp(buf, want, len) != 0) {
        fprintf(stderr, "get %s: '%.*s', expected '%s'\n", key, (int)len,
                buf, want);
        return SHMC_EINTERNAL;
    }
    return 0;
}

/* An instance holding one entry, closed again: what the corruption tests
 * damage before opening it once more. */
static void make_closed_instance(const char *inst)
{
    shmc_cache *c = open_ok(inst, &small_opts);
    tu_set(c, "survivor", "still here");
    shmc_close(c);
}

/* ---- children -------------------------------------------------------- */

/* Wait until *progress reaches want; fail at once if the child exits
 * first (it said why on stderr). */
static void wait_for_progress(pid_t *child, _Atomic unsigned *progress,
                              unsigned want, const char *what)
{
    uint64_t deadline = tu_now_ns() + 60ull * 1000000000u;
    while (atomic_load(progress) < want) {
        int status;
        if (waitpid(*child, &status, WNOHANG) == *child) {
            *child = 0;
            fail_msg("child exited (status 0x%x) before %s", status, what);
        }
        if (tu_now_ns() > deadline)
            fail_msg("timed out waiting for %s", what);
        tu_sleep_ms(1);
    }
}

static struct passwd nobody_user(void)
{
    struct passwd *pw = getpwnam("nobody");
    if (!pw)
        fail_msg("no user 'nobody' to test another uid with");
    return *pw;
}

/* In a forked child: become uid with gid as its only group. */
static int drop_to(uid_t uid, gid_t gid)
{
    if (setgroups(0, NULL) < 0 || setgid(gid) < 0 || setuid(uid) < 0) {
        perror("dropping privileges");
        return -1;
    }
    return 0;
}

/* ---- raw LMDB, as another program would use it ---------------------- */

static void lmdb_ok(int rc, const char *what)
{
    if (rc)
        fail_msg("%s: %s", what, mdb_strerror(rc));
}

static MDB_env *raw_env_open(const char *dir)
{
    MDB_env *env;
    lmdb_ok(mdb_env_create(&env), "mdb_env_create");
    lmdb_ok(mdb_env_set_maxdbs(env, 16), "mdb_env_set_maxdbs");
    int rc = mdb_env_open(env, dir, 0, 0600);
    if (rc)
        mdb_env_close(env);
    lmdb_ok(rc, dir);
    return env;
}

/* Store key = val in table (NULL: the main database), creating it. */
static void raw_put(const char *dir, const char *table, const char *key,
                    const void *val, size_t vlen)
{
    MDB_env *env = raw_env_open(dir);
    MDB_txn *txn;
    MDB_dbi dbi;
    int rc = mdb_txn_begin(env, NULL, 0, &txn);
    if (rc == 0) {
        rc = mdb_dbi_open(txn, table, MDB_CREATE, &dbi);
        MDB_val k = {strlen(key), (void *)key}, v = {vlen, (void *)val};
        if (rc == 0)
            rc = mdb_put(txn, dbi, &k, &v, 0);
        if (rc == 0)
            rc = mdb_txn_commit(txn);
        else
            mdb_txn_abort(txn);
    }
    mdb_env_close(env);
    lmdb_ok(rc, "writing with raw LMDB");
}

/* The keys of the main database (table names, and whatever else another
 * program put there), each followed by a space. */
static void raw_main_keys(const char *dir, char *out, size_t size)
{
    MDB_env *env = raw_env_open(dir);
    MDB_txn *txn;
    MDB_dbi dbi;
    MDB_cursor *cur;
    MDB_val k, v;
    size_t used = 0;
    out[0] = '\0';
    int rc = mdb_txn_begin(env, NULL, MDB_RDONLY, &txn);
    if (rc == 0) {
        rc = mdb_dbi_open(txn, NULL, 0, &dbi);
        if (rc == 0)
            rc = mdb_cursor_open(txn, dbi, &cur);
        if (rc == 0) {
            for (MDB_cursor_op op = MDB_FIRST;
                 (rc = mdb_cursor_get(cur, &k, &v, op)) == 0; op = MDB_NEXT) {
                int n = snprintf(out + used, size - used, "%.*s ",
                                 (int)k.mv_size, (const char *)k.mv_data);
                if (n < 0 || (size_t)n >= size - used)
                    break;
                used += (size_t)n;
            }
            mdb_cursor_close(cur);
        }
        mdb_txn_abort(txn);
    }
    mdb_env_close(env);
    if (rc != MDB_NOTFOUND)
        fail_msg("listing the main database of %s: %s", dir,
                 rc ? mdb_strerror(rc) : "too many keys");
}

/* ---- control.shm ----------------------------------------------------- */

static int open_control(const char *inst)
{
    char p[PATH_MAX];
    int fd = open(path_in(p, inst, SHMC__CONTROL_NAME), O_RDWR | O_CLOEXEC);
    if (fd < 0)
        fail_msg("%s: %s", p, strerror(errno));
    return fd;
}

static void control_read(const char *inst, size_t offset, void *buf,
                         size_t len)
{
    int fd = open_control(inst);
    ssize_t n = pread(fd, buf, len, (off_t)offset);
    close(fd);
    assert_int_equal(n, (ssize_t)len);
}

static void control_write(const char *inst, size_t offset, const void *buf,
                          size_t len)
{
    int fd = open_control(inst);
    ssize_t n = pwrite(fd, buf, len, (off_t)offset);
    close(fd);
    assert_int_equal(n, (ssize_t)len);
}

/* Add delta to the 32-bit header field at offset; returns its new value. */
static uint32_t control_bump_u32(const char *inst, size_t offset,
                                 uint32_t delta)
{
    uint32_t v;
    control_read(inst, offset, &v, sizeof v);
    v += delta;
    control_write(inst, offset, &v, sizeof v);
    return v;
}

static void control_truncate(const char *inst, off_t size)
{
    char p[PATH_MAX];
    if (truncate(path_in(p, inst, SHMC__CONTROL_NAME), size) < 0)
        fail_msg("%s: %s", p, strerror(errno));
}

static off_t control_size(const char *inst)
{
    char p[PATH_MAX];
    struct stat st;
    if (stat(path_in(p, inst, SHMC__CONTROL_NAME), &st) < 0)
        fail_msg("%s: %s", p, strerror(errno));
    return st.st_size;
}

/* ====================================================================== */
/* Creating and reopening                                                  */

static void test_create_then_reopen(void **state)
{
    struct fixture *f = *state;
    char parent[PATH_MAX], inst[PATH_MAX];
    /* A permissive umask: the modes must come from the library alone. */
    umask(0);
    path_in(parent, f->d.root, "parent");
    path_in(inst, parent, "inst");

    shmc_cache *c = open_ok(inst, &small_opts);
    assert_instance_modes(inst, 0700, 0600, getegid());
    struct stat st;
    assert_int_equal(lstat(parent, &st), 0);
    assert_true(S_ISDIR(st.st_mode));
    assert_int_equal(st.st_uid, geteuid());
    if (st.st_mode & (S_IWGRP | S_IWOTH))
        fail_msg("%s: created writable by others (mode %04o)", parent,
                 (unsigned)(st.st_mode & 07777));
    tu_set(c, "k", "v");
    shmc_close(c);

    c = open_ok(inst, &small_opts);
    tu_assert_value(c, "k", "v");
    assert_instance_modes(inst, 0700, 0600, getegid());
    shmc_close(c);
}

static void test_creation_options_persist(void **state)
{
    struct fixture *f = *state;
    const shmc_opts create = {.map_size = SMALL_MAP, .max_readers = 200};
    const shmc_opts other = {.map_size = 4 * SMALL_MAP, .max_readers = 2000};

    shmc_cache *c = open_ok(f->d.inst, &create);
    shmc_info first = tu_info(c);
    shmc_close(c);
    assert_int_equal(first.map_size, SMALL_MAP);
    /* Only then can the reopen below tell which value it got. */
    assert_true(first.max_readers < other.max_readers);

    c = open_ok(f->d.inst, &other);
    shmc_info again = tu_info(c);
    shmc_close(c);
    assert_int_equal(again.map_size, SMALL_MAP);
    assert_int_equal(again.max_readers, first.max_readers);
}

static void test_map_size_below_minimum(void **state)
{
    struct fixture *f = *state;
    const shmc_opts tiny = {.map_size = MIN_MAP - 1};
    assert_open_fails(f->d.inst, &tiny, SHMC_EINVAL);
    assert_error_mentions("map_size");
    assert_error_mentions("minimum");
    assert_absent(f->d.inst);

    const shmc_opts smallest = {.map_size = MIN_MAP};
    shmc_cache *c = open_ok(f->d.inst, &smallest);
    assert_int_equal(tu_info(c).map_size, MIN_MAP);
    shmc_close(c);
}

static void test_map_size_beyond_file_system(void **state)
{
    struct fixture *f = *state;
    struct statvfs fs;
    char p[PATH_MAX];
    assert_int_equal(statvfs("/dev/shm", &fs), 0);
    const shmc_opts huge = {.map_size =
                                (uint64_t)fs.f_blocks * fs.f_frsize * 2};
    assert_open_fails(f->d.inst, &huge, SHMC_EINVAL);
    assert_error_mentions(f->d.inst);
    assert_error_mentions("larger than its file system");
    /* Refused before anything was sized to it. */
    assert_absent(path_in(p, f->d.inst, SHMC__CONTROL_NAME));
    assert_absent(path_in(p, f->d.inst, "data.mdb"));
}

static void test_null_out(void **state)
{
    struct fixture *f = *state;
    tu_assert_rc(shmc_open(NULL, f->d.inst, &small_opts), SHMC_EINVAL);
    assert_error_mentions("out is NULL");
    assert_absent(f->d.inst);
}

static void test_relative_path(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(chdir(f->d.root), 0);
    shmc_cache *c = open_ok("inst", &small_opts);
    tu_set(c, "k", "relative");
    shmc_close(c);

    assert_instance_modes(f->d.inst, 0700, 0600, getegid());
    c = open_ok(f->d.inst, &small_opts);
    tu_assert_value(c, "k", "relative");
    shmc_close(c);
}

static void test_dotdot_component(void **state)
{
    struct fixture *f = *state;
    char sub[PATH_MAX], path[PATH_MAX];
    path_in(sub, f->d.root, "sub");
    path_in(path, sub, "../inst");
    assert_open_fails(path, &small_opts, SHMC_EINVAL);
    assert_error_mentions(path);
    assert_error_mentions("'..'");
    /* A refused path leaves nothing behind, not even its first part. */
    assert_absent(sub);
    assert_absent(f->d.inst);
}

static void test_regular_file_component(void **state)
{
    struct fixture *f = *state;
    char file[PATH_MAX], below[PATH_MAX];
    path_in(file, f->d.root, "file");
    int fd = open(file, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    assert_true(fd >= 0);
    close(fd);

    assert_open_fails(path_in(below, file, "inst"), &small_opts,
                      SHMC_EUNSAFE);
    assert_error_mentions(file);
    assert_error_mentions("not a directory");

    assert_open_fails(file, &small_opts, SHMC_EUNSAFE);
    assert_error_mentions(file);
    assert_error_mentions("not a directory");
}

/* ====================================================================== */
/* One environment per process                                             */

static void test_two_opens_share(void **state)
{
    struct fixture *f = *state;
    shmc_cache *a = open_ok(f->d.inst, &small_opts);
    tu_set(a, "from-a", "1");
    tu_assert_value(a, "from-a", "1");
    unsigned readers = tu_info(a).readers_used;

    shmc_cache *b = open_ok(f->d.inst, &small_opts);
    tu_assert_value(b, "from-a", "1");
    tu_set(b, "from-b", "2");
    tu_assert_value(a, "from-b", "2");
    assert_int_equal(tu_info(b).readers_used, readers);
    assert_int_equal(tu_info(a).readers_used, readers);

    shmc_close(a);
    tu_assert_value(b, "from-a", "1");
    tu_set(b, "after-close", "3");
    tu_assert_value(b, "after-close", "3");
    assert_int_equal(tu_info(b).readers_used, readers);
    shmc_close(b);
}

static void test_two_spellings_share(void **state)
{
    struct fixture *f = *state;
    char slash[PATH_MAX + 1];
    snprintf(slash, sizeof slash, "%s/", f->d.inst);
    shmc_cache *absolute = open_ok(f->d.inst, &small_opts);
    tu_set(absolute, "k", "shared");
    tu_assert_value(absolute, "k", "shared");
    unsigned readers = tu_info(absolute).readers_used;

    shmc_cache *trailing = open_ok(slash, &small_opts);
    tu_assert_value(trailing, "k", "shared");
    assert_int_equal(tu_info(trailing).readers_used, readers);

    assert_int_equal(chdir(f->d.root), 0);
    shmc_cache *dotted = open_ok("./inst", &small_opts);
    tu_assert_value(dotted, "k", "shared");
    assert_int_equal(tu_info(dotted).readers_used, readers);

    shmc_close(absolute);
    shmc_close(trailing);
    tu_set(dotted, "k", "still works");
    tu_assert_value(dotted, "k", "still works");
    shmc_close(dotted);
}

/* ====================================================================== */
/* Path safety                                                             */

static void test_symlink_as_instance_dir(void **state)
{
    struct fixture *f = *state;
    char target[PATH_MAX];
    make_dir(path_in(target, f->d.root, "target"), 0700);
    assert_int_equal(symlink(target, f->d.inst), 0);

    assert_open_fails(f->d.inst, &small_opts, SHMC_EUNSAFE);
    assert_error_mentions(f->d.inst);
    assert_error_mentions("symbolic link");
    assert_int_equal(count_entries(target), 0);
}

static void test_symlink_as_intermediate_dir(void **state)
{
    struct fixture *f = *state;
    char real[PATH_MAX], link[PATH_MAX], inst[PATH_MAX];
    make_dir(path_in(real, f->d.root, "real"), 0755);
    assert_int_equal(symlink(real, path_in(link, f->d.root, "link")), 0);

    assert_open_fails(path_in(inst, link, "inst"), &small_opts,
                      SHMC_EUNSAFE);
    assert_error_mentions(link);
    assert_error_mentions("symbolic link");
    assert_int_equal(count_entries(real), 0);
}

/* Each file of an instance in turn is replaced by a symlink to the real
 * file moved aside. */
static void test_symlink_planted_as_instance_file(void **state)
{
    struct fixture *f = *state;
    for (size_t i = 0; i < INSTANCE_FILES; i++) {
        char base[PATH_MAX], inst[PATH_MAX], file[PATH_MAX], moved[PATH_MAX];
        make_dir(path_in(base, f->d.root, instance_files[i]), 0700);
        make_closed_instance(path_in(inst, base, "inst"));
        path_in(file, inst, instance_files[i]);
        assert_int_equal(rename(file, path_in(moved, base, "moved")), 0);
        assert_int_equal(symlink(moved, file), 0);

        assert_open_fails(inst, &small_opts, SHMC_EUNSAFE);
        assert_error_mentions(file);
        assert_error_mentions("symbolic link");
    }
}

static void test_instance_dir_writable_by_others(void **state)
{
    struct fixture *f = *state;
    make_closed_instance(f->d.inst);
    assert_int_equal(chmod(f->d.inst, 0777), 0);
    assert_open_fails(f->d.inst, &small_opts, SHMC_EUNSAFE);
    assert_error_mentions(f->d.inst);
    assert_error_mentions("writable by others");
}

static void test_instance_file_writable_by_others(void **state)
{
    struct fixture *f = *state;
    for (size_t i = 0; i < INSTANCE_FILES; i++) {
        char base[PATH_MAX], inst[PATH_MAX], file[PATH_MAX];
        make_dir(path_in(base, f->d.root, instance_files[i]), 0700);
        make_closed_instance(path_in(inst, base, "inst"));
        assert_int_equal(chmod(path_in(file, inst, instance_files[i]), 0602),
                         0);
        assert_open_fails(inst, &small_opts, SHMC_EUNSAFE);
        assert_error_mentions(file);
        assert_error_mentions("writable by others");
    }
}

struct foreign_owner {
    char roots[PATH_MAX]; /* an instance of root's */
    char own[PATH_MAX];   /* an empty directory of the child's */
    uid_t uid;
    gid_t gid;
};

static int open_as_other_uid(void *arg, int index)
{
    (void)index;
    const struct foreign_owner *fo = arg;
    char want[64];
    if (drop_to(fo->uid, fo->gid))
        return 2;
    shmc_cache *c = NULL;
    int rc = shmc_open(&c, fo->roots, &small_opts);
    snprintf(want, sizeof want, "owned by uid 0, not by uid %u",
             (unsigned)fo->uid);
    if (rc != SHMC_EUNSAFE || !strstr(shmc_last_error(), fo->roots) ||
        !strstr(shmc_last_error(), want)) {
        fprintf(stderr, "open of root's instance: %s (%s), expected "
                        "SHMC_EUNSAFE mentioning '%s'\n",
                shmc_err_name(rc), shmc_last_error(), want);
        if (rc == 0)
            shmc_close(c);
        return 3;
    }
    /* The same path check passes for a directory the child owns: the
     * refusal above was about the owner, nothing else. */
    rc = shmc_open(&c, fo->own, &small_opts);
    if (rc) {
        fprintf(stderr, "open of own instance: %s: %s\n", shmc_err_name(rc),
                shmc_last_error());
        return 4;
    }
    shmc_close(c);
    return 0;
}

static void test_instance_dir_of_another_uid(void **state)
{
    struct fixture *f = *state;
    if (geteuid() != 0)
        skip(); /* needs root to become a second uid */
    struct passwd nobody = nobody_user();
    struct foreign_owner fo = {.uid = nobody.pw_uid, .gid = nobody.pw_gid};
    /* Traversable by the child, so that only ownership can refuse it. */
    assert_int_equal(chmod(f->d.root, 0755), 0);
    make_closed_instance(f->d.inst);
    assert_int_equal(chmod(f->d.inst, 0755), 0);
    snprintf(fo.roots, sizeof fo.roots, "%s", f->d.inst);
    make_dir(path_in(fo.own, f->d.root, "nobodys"), 0700);
    assert_int_equal(chown(fo.own, fo.uid, fo.gid), 0);

    tu_run_children(1, open_as_other_uid, &fo, ONE_CHILD_TIMEOUT_S);
}

static void test_parent_writable_by_others(void **state)
{
    struct fixture *f = *state;
    char pub[PATH_MAX], inst[PATH_MAX];
    make_dir(path_in(pub, f->d.root, "pub"), 0777);
    path_in(inst, pub, "inst");
    assert_open_fails(inst, &small_opts, SHMC_EUNSAFE);
    assert_error_mentions(pub);
    assert_error_mentions("sticky");
    assert_int_equal(count_entries(pub), 0);

    /* Others may write there, but not replace what is ours: as /dev/shm. */
    assert_int_equal(chmod(pub, 01777), 0);
    shmc_cache *c = open_ok(inst, &small_opts);
    shmc_close(c);
}

static void test_unknown_group(void **state)
{
    struct fixture *f = *state;
    const shmc_opts opts = {.map_size = SMALL_MAP,
                            .group = "shmc-no-such-group"};
    assert_open_fails(f->d.inst, &opts, SHMC_EINVAL);
    assert_error_mentions("shmc-no-such-group");
    assert_error_mentions("no such group");
    assert_absent(f->d.inst);
}

/* Create inst shared with group, under a umask that would keep the group
 * out if the library left the modes to it. */
static void check_group_instance(const char *inst, const char *group,
                                 gid_t gid)
{
    const shmc_opts opts = {.map_size = SMALL_MAP, .group = group};
    mode_t old = umask(077);
    shmc_cache *c = open_ok(inst, &opts);
    umask(old);
    assert_instance_modes(inst, 0770, 0660, gid);
    tu_set(c, "k", group);
    shmc_close(c);

    c = open_ok(inst, &opts);
    tu_assert_value(c, "k", group);
    assert_instance_modes(inst, 0770, 0660, gid);
    shmc_close(c);

    /* Group-writable files are refused to an opener that did not ask to
     * share them. */
    assert_open_fails(inst, &small_opts, SHMC_EUNSAFE);
    assert_error_mentions(inst);
    assert_error_mentions("writable by group");
}

static void test_group_by_number(void **state)
{
    struct fixture *f = *state;
    check_group_instance(f->d.inst, "0", 0);
}

static void test_group_by_name(void **state)
{
    struct fixture *f = *state;
    if (geteuid() != 0)
        skip(); /* giving files a group we are not in needs root */
    struct passwd nobody = nobody_user();
    struct group *gr = getgrgid(nobody.pw_gid);
    if (!gr)
        fail_msg("no group %u", (unsigned)nobody.pw_gid);
    check_group_instance(f->d.inst, gr->gr_name, nobody.pw_gid);
}

/* Directories created on the way to a group instance must let the group
 * through, whatever the umask of the process that made them. */
static void test_group_reaches_instance_through_created_parent(void **state)
{
    struct fixture *f = *state;
    char parent[PATH_MAX], inst[PATH_MAX];
    const shmc_opts opts = {.map_size = SMALL_MAP, .group = "0"};
    path_in(parent, f->d.root, "parent");
    umask(077);
    shmc_cache *c = open_ok(path_in(inst, parent, "inst"), &opts);
    shmc_close(c);
    struct stat st;
    assert_int_equal(lstat(parent, &st), 0);
    int group_passes = st.st_gid == 0 ? (st.st_mode & S_IXGRP) != 0
                                      : (st.st_mode & S_IXOTH) != 0;
    if (!group_passes)
        fail_msg("%s: mode %04o group %u: group 0 cannot reach the instance",
                 parent, (unsigned)(st.st_mode & 07777), (unsigned)st.st_gid);
}

struct group_member {
    char inst[PATH_MAX];
    char group[64];
    uid_t uid;
    gid_t gid;
};

static int open_as_group_member(void *arg, int index)
{
    (void)index;
    const struct group_member *gm = arg;
    if (drop_to(gm->uid, gm->gid))
        return 2;
    const shmc_opts opts = {.map_size = SMALL_MAP, .group = gm->group};
    shmc_cache *c = NULL;
    int rc = shmc_open(&c, gm->inst, &opts);
    if (rc) {
        fprintf(stderr, "group member's open: %s: %s\n", shmc_err_name(rc),
                shmc_last_error());
        return 3;
    }
    rc = check_value(c, "k", "from root");
    if (rc == 0) {
        rc = shmc_set(c, "k", 1, "member", 6, 0);
        if (rc)
            fprintf(stderr, "group member's set: %s: %s\n",
                    shmc_err_name(rc), shmc_last_error());
    }
    shmc_close(c);
    return rc ? 4 : 0;
}

/* The point of a group: another user in it shares the instance. */
static void test_group_member_of_another_uid(void **state)
{
    struct fixture *f = *state;
    if (geteuid() != 0)
        skip(); /* needs root to become a second uid */
    struct passwd nobody = nobody_user();
    struct group *gr = getgrgid(nobody.pw_gid);
    if (!gr)
        fail_msg("no group %u", (unsigned)nobody.pw_gid);
    struct group_member gm = {.uid = nobody.pw_uid, .gid = nobody.pw_gid};
    snprintf(gm.inst, sizeof gm.inst, "%s", f->d.inst);
    snprintf(gm.group, sizeof gm.group, "%s", gr->gr_name);
    const shmc_opts opts = {.map_size = SMALL_MAP, .group = gm.group};
    assert_int_equal(chmod(f->d.root, 0755), 0);

    shmc_cache *c = open_ok(f->d.inst, &opts);
    tu_set(c, "k", "from root");
    shmc_close(c);
    tu_run_children(1, open_as_group_member, &gm, ONE_CHILD_TIMEOUT_S);

    c = open_ok(f->d.inst, &opts);
    tu_assert_value(c, "k", "member");
    shmc_close(c);
}

/* ====================================================================== */
/* control.shm: versions and damage                                        */

static void test_layout_version_newer(void **state)
{
    struct fixture *f = *state;
    char want[64];
    make_closed_instance(f->d.inst);
    uint32_t v = control_bump_u32(
        f->d.inst, offsetof(struct shmc__control_header, layout_version), 1);
    assert_open_fails(f->d.inst, &small_opts, SHMC_EVERSION);
    snprintf(want, sizeof want, "layout version %u", (unsigned)v);
    assert_error_mentions(f->d.inst);
    assert_error_mentions(want);
}

static void test_mutex_size_differs(void **state)
{
    struct fixture *f = *state;
    char want[64];
    make_closed_instance(f->d.inst);
    uint32_t v = control_bump_u32(
        f->d.inst, offsetof(struct shmc__control_header, mutex_size), 8);
    assert_open_fails(f->d.inst, &small_opts, SHMC_EVERSION);
    snprintf(want, sizeof want, "%u-byte mutexes", (unsigned)v);
    assert_error_mentions(f->d.inst);
    assert_error_mentions(want);
}

static void test_magic_garbage(void **state)
{
    struct fixture *f = *state;
    make_closed_instance(f->d.inst);
    control_write(f->d.inst, offsetof(struct shmc__control_header, magic),
                  "GARBAGE!", 8);
    assert_open_fails(f->d.inst, &small_opts, SHMC_ECORRUPT);
    assert_error_mentions(f->d.inst);
    assert_error_mentions("not a shmcache control file");
}

static void test_control_truncated_to_10_bytes(void **state)
{
    struct fixture *f = *state;
    make_closed_instance(f->d.inst);
    control_truncate(f->d.inst, 10);
    assert_open_fails(f->d.inst, &small_opts, SHMC_ECORRUPT);
    assert_error_mentions(f->d.inst);
    assert_error_mentions("10 bytes");
}

static void test_control_truncated_to_half(void **state)
{
    struct fixture *f = *state;
    make_closed_instance(f->d.inst);
    control_truncate(f->d.inst, control_size(f->d.inst) / 2);
    assert_open_fails(f->d.inst, &small_opts, SHMC_ECORRUPT);
    assert_error_mentions(f->d.inst);
    assert_error_mentions("inconsistent");
}

static void test_header_fields_inconsistent(void **state)
{
    struct fixture *f = *state;
    make_closed_instance(f->d.inst);
    control_bump_u32(f->d.inst,
                     offsetof(struct shmc__control_header, counter_shards), 1);
    assert_open_fails(f->d.inst, &small_opts, SHMC_ECORRUPT);
    assert_error_mentions(f->d.inst);
    assert_error_mentions("inconsistent");
}

/* A zero magic is what a creator that died half-way leaves: the next open
 * initialises control.shm again, and LMDB's entries are untouched. */
static void test_magic_zero_reinitialises(void **state)
{
    struct fixture *f = *state;
    const uint64_t zero = 0;
    uint64_t magic;
    make_closed_instance(f->d.inst);
    control_write(f->d.inst, offsetof(struct shmc__control_header, magic),
                  &zero, sizeof zero);

    shmc_cache *c = open_ok(f->d.inst, &small_opts);
    tu_assert_value(c, "survivor", "still here");
    assert_int_equal(tu_info(c).entries, 1);
    control_read(f->d.inst, offsetof(struct shmc__control_header, magic),
                 &magic, sizeof magic);
    assert_true(magic == SHMC__CONTROL_MAGIC);
    shmc_close(c);
}

/* ====================================================================== */
/* The LMDB files                                                          */

static void test_data_file_garbage(void **state)
{
    struct fixture *f = *state;
    char p[PATH_MAX];
    unsigned char garbage[64 * 1024];
    uint32_t x = 2463534242u; /* xorshift32: not zeros, not a pattern */
    for (size_t i = 0; i < sizeof garbage; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        garbage[i] = (unsigned char)x;
    }
    make_closed_instance(f->d.inst);
    path_in(p, f->d.inst, "data.mdb");
    assert_int_equal(unlink(p), 0);
    int fd = open(p, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, garbage, sizeof garbage),
                     (ssize_t)sizeof garbage);
    close(fd);

    assert_open_fails(f->d.inst, &small_opts, SHMC_ECORRUPT);
    assert_error_mentions(f->d.inst);
    assert_error_mentions("not an LMDB file");
}

/* LMDB files of another program in the instance directory: refused, and
 * not one table name added to them. */
static void check_foreign_env(const char *inst, const char *table,
                              const char *expected_keys)
{
    char keys[256];
    make_dir(inst, 0700);
    raw_put(inst, table, "their-key", "their value", 11);
    raw_main_keys(inst, keys, sizeof keys);
    assert_string_equal(keys, expected_keys);

    assert_open_fails(inst, &small_opts, SHMC_ECORRUPT);
    assert_error_mentions(inst);
    assert_error_mentions("another program");
    raw_main_keys(inst, keys, sizeof keys);
    assert_string_equal(keys, expected_keys);
}

static void test_foreign_env_with_named_db(void **state)
{
    struct fixture *f = *state;
    check_foreign_env(f->d.inst, "other", "other ");
}

static void test_foreign_env_with_main_db_key(void **state)
{
    struct fixture *f = *state;
    check_foreign_env(f->d.inst, NULL, "their-key ");
}

static void test_record_format_newer(void **state)
{
    struct fixture *f = *state;
    const unsigned char format = 99;
    make_closed_instance(f->d.inst);
    raw_put(f->d.inst, "meta", "record-format", &format, 1);
    assert_open_fails(f->d.inst, &small_opts, SHMC_EVERSION);
    assert_error_mentions(f->d.inst);
    assert_error_mentions("format 99");
}

/* ====================================================================== */
/* Many processes                                                          */

struct race {
    char inst[PATH_MAX];
    int racers;
};

static void racer_pair(int i, char key[32], char val[32])
{
    snprintf(key, 32, "racer-%02d", i);
    snprintf(val, 32, "value of racer %02d", i);
}

/* Open the new instance with all the others, store this racer's key, then
 * read every key: its own must be there, the others right if present. */
static int racer(void *arg, int index)
{
    const struct race *r = arg;
    char key[32], val[32];
    shmc_cache *c = NULL;
    int rc = shmc_open(&c, r->inst, &small_opts);
    if (rc) {
        fprintf(stderr, "racer %d: open: %s: %s\n", index, shmc_err_name(rc),
                shmc_last_error());
        return 1;
    }
    racer_pair(index, key, val);
    rc = shmc_set(c, key, strlen(key), val, strlen(val), 0);
    if (rc)
        fprintf(stderr, "racer %d: set: %s: %s\n", index, shmc_err_name(rc),
                shmc_last_error());
    for (int i = 0; rc == 0 && i < r->racers; i++) {
        racer_pair(i, key, val);
        rc = check_value(c, key, val);
        if (rc == SHMC_ENOTFOUND && i != index)
            rc = 0;
    }
    shmc_close(c);
    return rc ? 1 : 0;
}

static void test_many_processes_create_at_once(void **state)
{
    struct fixture *f = *state;
    unsigned rounds = tu_scaled(5);
    struct race r = {.racers = tu_under_valgrind() ? 8 : 32};
    for (unsigned round = 0; round < rounds; round++) {
        char dir[PATH_MAX], name[32];
        snprintf(name, sizeof name, "round-%u", round);
        /* The parent directory is new too: the racers create it as well. */
        path_in(dir, f->d.root, name);
        path_in(r.inst, dir, "inst");
        tu_run_children(r.racers, racer, &r, tu_under_valgrind() ? 300 : 20);

        shmc_cache *c = open_ok(r.inst, &small_opts);
        for (int i = 0; i < r.racers; i++) {
            char key[32], val[32];
            racer_pair(i, key, val);
            tu_assert_value(c, key, val);
        }
        assert_int_equal(tu_info(c).entries, (uint64_t)r.racers);
        shmc_close(c);
    }
}

struct killed_writer {
    char inst[PATH_MAX];
    _Atomic unsigned holder_ready, release_holder;
    _Atomic unsigned victim_readers; /* readers_used as the victim saw it */
    _Atomic unsigned committed;      /* loop keys the victim stored */
};

static void loop_pair(unsigned i, char key[32], char val[32])
{
    snprintf(key, 32, "loop-%u", i);
    snprintf(val, 32, "written %u", i);
}

/* Keeps the environment open in another process, so that the parent's
 * later open is not LMDB's first and must clear dead readers itself. */
static int holder(void *arg, int index)
{
    (void)index;
    struct killed_writer *k = arg;
    shmc_cache *c = NULL;
    int rc = shmc_open(&c, k->inst, &small_opts);
    if (rc == 0)
        rc = check_value(c, "survivor", "still here");
    if (rc) {
        fprintf(stderr, "holder: %s: %s\n", shmc_err_name(rc),
                shmc_last_error());
        return 1;
    }
    atomic_store(&k->holder_ready, 1);
    uint64_t deadline = tu_now_ns() + 120ull * 1000000000u;
    while (!atomic_load(&k->release_holder) && tu_now_ns() < deadline)
        tu_sleep_ms(1);
    shmc_close(c);
    return atomic_load(&k->release_holder) ? 0 : 1;
}

/* Holds a reader slot and writes in a loop until killed. */
static int victim(void *arg, int index)
{
    (void)index;
    struct killed_writer *k = arg;
    shmc_cache *c = NULL;
    shmc_info info;
    int rc = shmc_open(&c, k->inst, &small_opts);
    if (rc == 0)
        rc = check_value(c, "survivor", "still here");
    if (rc == 0)
        rc = shmc_info_get(c, &info);
    if (rc) {
        fprintf(stderr, "victim: %s: %s\n", shmc_err_name(rc),
                shmc_last_error());
        return 1;
    }
    atomic_store(&k->victim_readers, info.readers_used);
    uint64_t deadline = tu_now_ns() + 120ull * 1000000000u;
    for (unsigned i = 0; tu_now_ns() < deadline; i++) {
        char key[32], val[32];
        loop_pair(i, key, val);
        rc = shmc_set(c, key, strlen(key), val, strlen(val), 0);
        if (rc == 0)
            rc = check_value(c, key, val);
        if (rc) {
            fprintf(stderr, "victim: loop %u: %s: %s\n", i,
                    shmc_err_name(rc), shmc_last_error());
            return 1;
        }
        atomic_store(&k->committed, i + 1);
    }
    return 1; /* should have been killed long before */
}

static void test_killed_process_does_not_block_opens(void **state)
{
    struct fixture *f = *state;
    struct killed_writer *k = tu_shared(sizeof *k);
    snprintf(k->inst, sizeof k->inst, "%s", f->d.inst);
    make_closed_instance(k->inst);

    f->kids[0] = tu_spawn(holder, k);
    wait_for_progress(&f->kids[0], &k->holder_ready, 1, "the holder");
    f->kids[1] = tu_spawn(victim, k);
    wait_for_progress(&f->kids[1], &k->committed,
                      tu_under_valgrind() ? 10 : 200, "the victim's sets");
    int killed = tu_kill_child(f->kids[1]);
    f->kids[1] = 0;
    assert_true(killed);
    unsigned committed = atomic_load(&k->committed);

    shmc_cache *c = open_ok(k->inst, &small_opts);
    tu_assert_value(c, "survivor", "still here");
    for (unsigned i = 0; i < committed; i++) {
        char key[32], val[32];
        loop_pair(i, key, val);
        tu_assert_value(c, key, val);
    }
    /* The victim may have died holding LMDB's writer lock. */
    tu_set(c, "after the kill", "written");
    tu_assert_value(c, "after the kill", "written");
    /* The holder's slot and one more: the victim's, freed by the open and
     * taken again by this process. A slot kept for the dead victim would
     * have made this one more. */
    assert_int_equal(tu_info(c).readers_used, atomic_load(&k->victim_readers));
    shmc_close(c);

    atomic_store(&k->release_holder, 1);
    pid_t holder_pid = f->kids[0];
    f->kids[0] = 0;
    assert_int_equal(tu_wait_child(holder_pid, ONE_CHILD_TIMEOUT_S), 0);
    tu_unshare(k, sizeof *k);
}

#define OPEN_TEST(fn) \
    cmocka_unit_test_setup_teardown(fn, fixture_setup, fixture_teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        OPEN_TEST(test_create_then_reopen),
        OPEN_TEST(test_creation_options_persist),
        OPEN_TEST(test_map_size_below_minimum),
        OPEN_TEST(test_map_size_beyond_file_system),
        OPEN_TEST(test_null_out),
        OPEN_TEST(test_relative_path),
        OPEN_TEST(test_dotdot_component),
        OPEN_TEST(test_regular_file_component),
        OPEN_TEST(test_two_opens_share),
        OPEN_TEST(test_two_spellings_share),
        OPEN_TEST(test_symlink_as_instance_dir),
        OPEN_TEST(test_symlink_as_intermediate_dir),
        OPEN_TEST(test_symlink_planted_as_instance_file),
        OPEN_TEST(test_instance_dir_writable_by_others),
        OPEN_TEST(test_instance_file_writable_by_others),
        OPEN_TEST(test_instance_dir_of_another_uid),
        OPEN_TEST(test_parent_writable_by_others),
        OPEN_TEST(test_unknown_group),
        OPEN_TEST(test_group_by_number),
        OPEN_TEST(test_group_by_name),
        OPEN_TEST(test_group_reaches_instance_through_created_parent),
        OPEN_TEST(test_group_member_of_another_uid),
        OPEN_TEST(test_layout_version_newer),
        OPEN_TEST(test_mutex_size_differs),
        OPEN_TEST(test_magic_garbage),
        OPEN_TEST(test_control_truncated_to_10_bytes),
        OPEN_TEST(test_control_truncated_to_half),
        OPEN_TEST(test_header_fields_inconsistent),
        OPEN_TEST(test_magic_zero_reinitialises),
        OPEN_TEST(test_data_file_garbage),
        OPEN_TEST(test_foreign_env_with_named_db),
        OPEN_TEST(test_foreign_env_with_main_db_key),
        OPEN_TEST(test_record_format_newer),
        OPEN_TEST(test_many_processes_create_at_once),
        OPEN_TEST(test_killed_process_does_not_block_opens),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
