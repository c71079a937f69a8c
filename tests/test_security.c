/* test_security.c - instances of different users side by side: what the
 * modes shmc_open gives keep another user out of, and what that user can
 * plant on the way (a directory of theirs, a symlink, a parent) being
 * refused with the path and the reason.
 *
 * Each test has a private directory under /dev/shm that stands for
 * /dev/shm itself: made public (writable by all, with the sticky bit) when
 * another user must be able to write in it. The other user is `nobody`,
 * which a forked child becomes with setuid: those tests need root and are
 * skipped without it. */
#include "testutil.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "control.h"

static const shmc_opts small_opts = {.map_size = TU_MAP_SIZE};
static const char *const instance_files[] = {SHMC__CONTROL_NAME, "data.mdb",
                                             "lock.mdb"};
#define INSTANCE_FILES (sizeof instance_files / sizeof instance_files[0])
#define PUBLIC_MODE 01777
/* For a child that opens an instance once or twice. */
#define CHILD_TIMEOUT_S (tu_under_valgrind() ? 120 : 20)

/* dir/name in buf, which has room for PATH_MAX bytes. */
static char *path_in(char *buf, const char *dir, const char *name)
{
    int n = snprintf(buf, PATH_MAX, "%s/%s", dir, name);
    if (n < 0 || n >= PATH_MAX)
        fail_msg("path too long: %s/%s", dir, name);
    return buf;
}

/* The test's directory, made public as /dev/shm is. */
static const char *public_root(void **state)
{
    struct tu_dir *d = *state;
    if (chmod(d->root, PUBLIC_MODE) < 0)
        fail_msg("%s: %s", d->root, strerror(errno));
    return d->root;
}

/* ---- checks that children may use too ---------------------------------- */

/* 0 when shmc_open(path) with flags fails with want and shmc_last_error()
 * names culprit (path or one of its parents) and reason; otherwise says
 * what happened on stderr and returns 1. Safe in children: the parent
 * asserts the result. */
static int open_refused(const char *path, unsigned flags, int want,
                        const char *culprit, const char *reason)
{
    shmc_opts opts = small_opts;
    opts.flags = flags;
    shmc_cache *c = NULL;
    int rc = shmc_open(&c, path, &opts);
    const char *msg = rc ? shmc_last_error() : "";
    char named[PATH_MAX + 2];
    snprintf(named, sizeof named, "%s:", culprit);
    if (rc == want && strncmp(msg, named, strlen(named)) == 0 &&
        strstr(msg, reason))
        return 0;
    fprintf(stderr,
            "uid %u: shmc_open(%s): %s (\"%s\"), expected %s about %s: "
            "\"%s\"\n",
            (unsigned)geteuid(), path, shmc_err_name(rc), msg,
            shmc_err_name(want), culprit, reason);
    if (rc == 0)
        shmc_close(c);
    return 1;
}

/* 0 when a call that returned rc (negative on failure) failed with errno
 * want; otherwise says so on stderr and returns 1. Read errno at once. */
static int failed_with(int rc, int want, const char *what)
{
    int err = errno;
    if (rc < 0 && err == want)
        return 0;
    fprintf(stderr, "uid %u: %s: %s, expected %s\n", (unsigned)geteuid(),
            what, rc < 0 ? strerror(err) : "succeeded", strerror(want));
    return 1;
}

/* opendir as a call that returns -1 with errno on failure. */
static int list_dir(const char *path)
{
    DIR *dp = opendir(path);
    if (!dp)
        return -1;
    closedir(dp);
    return 0;
}

/* ---- assertions --------------------------------------------------------- */

static void assert_owned_with_mode(const char *path, uid_t uid, mode_t mode)
{
    struct stat st;
    if (lstat(path, &st) < 0)
        fail_msg("%s: %s", path, strerror(errno));
    if (st.st_uid != uid || (st.st_mode & 07777) != mode)
        fail_msg("%s: uid %u mode %04o, expected uid %u mode %04o", path,
                 (unsigned)st.st_uid, (unsigned)(st.st_mode & 07777),
                 (unsigned)uid, (unsigned)mode);
}

static void assert_empty_dir(const char *path)
{
    DIR *dp = opendir(path);
    if (!dp)
        fail_msg("%s: %s", path, strerror(errno));
    for (struct dirent *e; (e = readdir(dp));) {
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) {
            closedir(dp);
            fail_msg("%s holds %s: something was made in a directory that "
                     "was not ours",
                     path, e->d_name);
        }
    }
    closedir(dp);
}

/* Create the instance at path holding key = val, and close it. */
static void make_instance(const char *path, const char *key, const char *val)
{
    shmc_cache *c = NULL;
    tu_assert_rc(shmc_open(&c, path, &small_opts), 0);
    tu_set(c, key, val);
    shmc_close(c);
}

static void assert_instance_holds(const char *path, const char *key,
                                  const char *val)
{
    shmc_cache *c = NULL;
    tu_assert_rc(shmc_open(&c, path, &small_opts), 0);
    tu_assert_value(c, key, val);
    shmc_close(c);
}

/* ---- the other user ----------------------------------------------------- */

struct other_user {
    uid_t uid;
    gid_t gid;
};

/* In a forked child: become uid with gid as its only group. */
static int become(const struct other_user *u)
{
    if (setgroups(0, NULL) < 0 || setgid(u->gid) < 0 || setuid(u->uid) < 0) {
        perror("becoming the other user");
        return -1;
    }
    return 0;
}

/* nobody, once a child has shown it can become that user; otherwise the
 * test is skipped (not failed): only root can switch users. */
static struct other_user other_user(void)
{
    if (geteuid() != 0) {
        fprintf(stderr, "skipped: only root can become a second uid\n");
        skip();
    }
    struct passwd *pw = getpwnam("nobody");
    if (!pw) {
        fprintf(stderr, "skipped: no user 'nobody' to be a second uid\n");
        skip();
    }
    struct other_user u = {.uid = pw->pw_uid, .gid = pw->pw_gid};
    pid_t pid = tu_fork();
    if (pid == 0)
        _exit(become(&u) ? 1 : 0);
    if (tu_wait_child(pid, CHILD_TIMEOUT_S)) {
        fprintf(stderr, "skipped: cannot setuid to nobody (uid %u)\n",
                (unsigned)u.uid);
        skip();
    }
    return u;
}

/* Modes of the directories the other user plants where root's instances
 * will be. */
static const mode_t planted_modes[] = {0777, 0755, 0700};
#define PLANTED_MODES (sizeof planted_modes / sizeof planted_modes[0])

/* What the other user does, in a child, and the paths it works on: made
 * by the test's process, as path_in may fail the test. */
struct plot {
    struct other_user who;
    int (*act)(const struct plot *p); /* 0 when all went as expected */
    char pub[PATH_MAX];    /* public, as /dev/shm */
    char shared[PATH_MAX]; /* pub/shmcache: the root users share */
    char victim[PATH_MAX]; /* shared/victim: root's instance */
    char victim_files[INSTANCE_FILES][PATH_MAX]; /* victim/instance_files */
    char moved[PATH_MAX];  /* shared/moved: where the victim could go */
    char own[PATH_MAX];    /* shared/own: the other user's instance */
    char bait[PATH_MAX];   /* pub/bait: a directory of the other user's */
    char inst[PATH_MAX];   /* pub/inst: an instance right in pub */
    char planted[PLANTED_MODES][PATH_MAX]; /* pub/x<mode> */
    char parent_0755[PATH_MAX];            /* pub/p0755 */
    char parent_0777[PATH_MAX];            /* pub/p0777 */
};

static void plot_paths(struct plot *p, const char *pub)
{
    char name[16];
    snprintf(p->pub, sizeof p->pub, "%s", pub);
    path_in(p->shared, p->pub, "shmcache");
    path_in(p->victim, p->shared, "victim");
    for (size_t i = 0; i < INSTANCE_FILES; i++)
        path_in(p->victim_files[i], p->victim, instance_files[i]);
    path_in(p->moved, p->shared, "moved");
    path_in(p->own, p->shared, "own");
    path_in(p->bait, p->pub, "bait");
    path_in(p->inst, p->pub, "inst");
    for (size_t i = 0; i < PLANTED_MODES; i++) {
        snprintf(name, sizeof name, "x%04o", (unsigned)planted_modes[i]);
        path_in(p->planted[i], p->pub, name);
    }
    path_in(p->parent_0755, p->pub, "p0755");
    path_in(p->parent_0777, p->pub, "p0777");
}

static int act_as_other_user(void *arg, int index)
{
    (void)index;
    const struct plot *p = arg;
    if (become(&p->who))
        return 2;
    return p->act(p) ? 3 : 0;
}

/* Run p->act as the other user; fails the test if it does not return 0
 * (the reasons are on stderr). */
static void other_user_acts(struct plot *p, int (*act)(const struct plot *))
{
    p->act = act;
    tu_run_children(1, act_as_other_user, p, CHILD_TIMEOUT_S);
}

/* mkdir with exactly mode, whatever the umask. */
static int make_dir(const char *path, mode_t mode)
{
    return mkdir(path, mode) < 0 || chmod(path, mode) < 0 ? -1 : 0;
}

/* ======================================================================== */
/* Modes of what shmc_open creates                                         */

/* The default root is created public inside /dev/shm, so that every user
 * can make instances in it; a directory below it on the way is public too;
 * elsewhere directories on the way are 0755; the instance is private. */
static void test_shared_root_is_public(void **state)
{
    const char *pub = public_root(state);
    char shared[PATH_MAX], inst[PATH_MAX], team[PATH_MAX], nested[PATH_MAX];
    char mine[PATH_MAX], sub[PATH_MAX], deep[PATH_MAX], file[PATH_MAX];
    uid_t me = geteuid();
    path_in(inst, path_in(shared, pub, "shmcache"), "default");
    path_in(nested, path_in(team, shared, "team"), "inst");
    path_in(deep, path_in(sub, path_in(mine, pub, "mine"), "sub"), "inst");
    assert_int_equal(make_dir(mine, 0700), 0);

    /* The modes come from the library alone, whatever the umask. */
    mode_t old_umask = umask(077);
    make_instance(inst, "k", "v");
    make_instance(nested, "k", "v");
    make_instance(deep, "k", "v");
    umask(old_umask);

    assert_owned_with_mode(shared, me, PUBLIC_MODE);
    assert_owned_with_mode(inst, me, 0700);
    for (size_t i = 0; i < INSTANCE_FILES; i++)
        assert_owned_with_mode(path_in(file, inst, instance_files[i]), me,
                               0600);
    assert_owned_with_mode(team, me, PUBLIC_MODE);
    assert_owned_with_mode(nested, me, 0700);
    /* Below a directory of our own nothing is made public. */
    assert_owned_with_mode(sub, me, 0755);
    assert_owned_with_mode(deep, me, 0700);
}

/* With a group, the instance in the shared root is the group's alone. */
static void test_group_instance_in_shared_root(void **state)
{
    const char *pub = public_root(state);
    char shared[PATH_MAX], inst[PATH_MAX], file[PATH_MAX];
    char group[32];
    gid_t gid = getegid();
    snprintf(group, sizeof group, "%u", (unsigned)gid);
    const shmc_opts opts = {.map_size = TU_MAP_SIZE, .group = group};
    shmc_cache *c = NULL;
    tu_assert_rc(shmc_open(&c, path_in(inst, path_in(shared, pub, "shmcache"),
                                       "team"),
                           &opts),
                 0);
    shmc_close(c);
    assert_owned_with_mode(shared, geteuid(), PUBLIC_MODE);
    assert_owned_with_mode(inst, geteuid(), 0770);
    for (size_t i = 0; i < INSTANCE_FILES; i++)
        assert_owned_with_mode(path_in(file, inst, instance_files[i]),
                               geteuid(), 0660);
}

/* ======================================================================== */
/* Another user next to an instance                                        */

/* Everything the other user could try on root's instance fails, and they
 * still make their own instance in the same shared root. */
static int snoop_then_share(const struct plot *p)
{
    int bad = failed_with(list_dir(p->victim), EACCES, "listing the instance");
    for (size_t i = 0; i < INSTANCE_FILES; i++)
        bad |= failed_with(open(p->victim_files[i], O_RDONLY | O_CLOEXEC),
                           EACCES, p->victim_files[i]);
    /* A planted control.shm would be a symlink to a file of ours, to read
     * the victim's counters and locks (instance_files[0] is control.shm). */
    bad |= failed_with(symlink(p->bait, p->victim_files[0]), EACCES,
                       "planting control.shm in the instance");
    /* The sticky bit keeps the instance where its owner put it. */
    bad |= failed_with(rename(p->victim, p->moved), EPERM,
                       "renaming the instance");
    bad |= failed_with(rmdir(p->victim), EPERM, "removing the instance");
    bad |= open_refused(p->victim, 0, -EACCES, p->victim,
                        "owned by uid 0, mode 0700");
    bad |= open_refused(p->victim, SHMC_OPEN_NOCREATE, -EACCES, p->victim,
                        "Permission denied");

    shmc_cache *c = NULL;
    int rc = shmc_open(&c, p->own, &small_opts);
    if (rc) {
        fprintf(stderr, "opening an own instance in the shared root: %s: %s\n",
                shmc_err_name(rc), shmc_last_error());
        return 1;
    }
    rc = shmc_set(c, "k", 1, "other", 5, 0);
    if (rc)
        fprintf(stderr, "set: %s: %s\n", shmc_err_name(rc),
                shmc_last_error());
    shmc_close(c);
    return bad || rc;
}

static void test_other_user_cannot_reach_instance(void **state)
{
    struct plot p = {.who = other_user()};
    plot_paths(&p, public_root(state));
    make_instance(p.victim, "k", "root's secret");

    other_user_acts(&p, snoop_then_share);

    assert_instance_holds(p.victim, "k", "root's secret");
    assert_owned_with_mode(p.own, p.who.uid, 0700);
    /* Theirs is as closed to root as root's is to them. */
    char want[64];
    snprintf(want, sizeof want, "owned by uid %u, not by uid 0",
             (unsigned)p.who.uid);
    assert_int_equal(open_refused(p.own, 0, SHMC_EUNSAFE, p.own, want), 0);
}

static int make_own_instance(const struct plot *p)
{
    shmc_cache *c = NULL;
    int rc = shmc_open(&c, p->own, &small_opts);
    if (rc) {
        fprintf(stderr, "creating the shared root: %s: %s\n",
                shmc_err_name(rc), shmc_last_error());
        return 1;
    }
    shmc_close(c);
    return 0;
}

/* What the owner of the shared root may do to another user's instance in
 * it: remove it, never enter it. */
static int poke_at_victim(const struct plot *p)
{
    int bad = failed_with(list_dir(p->victim), EACCES, "listing the instance");
    for (size_t i = 0; i < INSTANCE_FILES; i++)
        bad |= failed_with(open(p->victim_files[i], O_RDONLY | O_CLOEXEC),
                           EACCES, p->victim_files[i]);
    bad |= open_refused(p->victim, 0, -EACCES, p->victim,
                        "owned by uid 0, mode 0700");
    return bad;
}

/* A user who is not root is the first to open an instance: the shared root
 * is theirs, and root (or anyone) still makes an instance in it. */
static void test_shared_root_made_by_other_user(void **state)
{
    struct plot p = {.who = other_user()};
    plot_paths(&p, public_root(state));

    other_user_acts(&p, make_own_instance);
    assert_owned_with_mode(p.shared, p.who.uid, PUBLIC_MODE);

    make_instance(p.victim, "k", "root's secret");
    assert_owned_with_mode(p.victim, 0, 0700);
    other_user_acts(&p, poke_at_victim);
    assert_instance_holds(p.victim, "k", "root's secret");
}

/* ======================================================================== */
/* What the other user plants before the victim comes                      */

static int plant_instance_dirs(const struct plot *p)
{
    for (size_t i = 0; i < PLANTED_MODES; i++) {
        if (make_dir(p->planted[i], planted_modes[i])) {
            perror(p->planted[i]);
            return 1;
        }
    }
    return 0;
}

/* A directory the other user made where root's instance will be: root
 * refuses it whatever its mode, and puts nothing in it. */
static void test_planted_instance_dir(void **state)
{
    struct plot p = {.who = other_user()};
    plot_paths(&p, public_root(state));
    other_user_acts(&p, plant_instance_dirs);

    char want[64];
    snprintf(want, sizeof want, "owned by uid %u, not by uid 0",
             (unsigned)p.who.uid);
    for (size_t i = 0; i < PLANTED_MODES; i++) {
        const char *dir = p.planted[i];
        assert_int_equal(open_refused(dir, 0, SHMC_EUNSAFE, dir, want), 0);
        assert_empty_dir(dir);
        assert_owned_with_mode(dir, p.who.uid, planted_modes[i]);
    }
}

/* The bait is writable by all: a victim that followed the link could use
 * it. */
static int plant_victim_symlink(const struct plot *p)
{
    if (make_dir(p->bait, 0777) || symlink(p->bait, p->victim) < 0) {
        perror("planting");
        return 1;
    }
    return 0;
}

/* The other user makes the shared root a symlink to their directory, and
 * an instance name in it a symlink too. */
static int plant_root_symlink(const struct plot *p)
{
    if (make_dir(p->bait, 0777) || symlink(p->bait, p->shared) < 0 ||
        symlink(p->bait, p->inst) < 0) {
        perror("planting");
        return 1;
    }
    return 0;
}

static void test_planted_symlinks(void **state)
{
    struct plot p = {.who = other_user()};
    plot_paths(&p, public_root(state));
    other_user_acts(&p, plant_root_symlink);

    assert_int_equal(
        open_refused(p.inst, 0, SHMC_EUNSAFE, p.inst, "symbolic link"), 0);
    /* Refused at the root, before anything is made below it. */
    assert_int_equal(open_refused(p.victim, 0, SHMC_EUNSAFE, p.shared,
                                  "symbolic link"),
                     0);
    assert_empty_dir(p.bait);
}

/* A symlink planted as the instance inside a shared root that is ours. */
static void test_planted_symlink_in_shared_root(void **state)
{
    struct plot p = {.who = other_user()};
    plot_paths(&p, public_root(state));
    char other[PATH_MAX];
    make_instance(path_in(other, p.shared, "other"), "k", "v");
    other_user_acts(&p, plant_victim_symlink);

    assert_int_equal(open_refused(p.victim, 0, SHMC_EUNSAFE, p.victim,
                                  "symbolic link"),
                     0);
    assert_empty_dir(p.bait);
}

static int plant_parents(const struct plot *p)
{
    if (make_dir(p->parent_0755, 0755) || make_dir(p->parent_0777, 0777)) {
        perror("planting a parent");
        return 1;
    }
    return 0;
}

/* A parent of the other user's that is not public: they could replace
 * what root makes in it. */
static void test_planted_parent(void **state)
{
    struct plot p = {.who = other_user()};
    plot_paths(&p, public_root(state));
    other_user_acts(&p, plant_parents);

    char inst[PATH_MAX], want[64];
    snprintf(want, sizeof want, "owned by uid %u, neither root nor uid 0",
             (unsigned)p.who.uid);
    assert_int_equal(open_refused(path_in(inst, p.parent_0755, "inst"), 0,
                                  SHMC_EUNSAFE, p.parent_0755, want),
                     0);
    assert_empty_dir(p.parent_0755);

    assert_int_equal(open_refused(path_in(inst, p.parent_0777, "inst"), 0,
                                  SHMC_EUNSAFE, p.parent_0777,
                                  "without the sticky bit"),
                     0);
    assert_empty_dir(p.parent_0777);
}

/* Files handed to another user (by root, which alone can) are refused:
 * their owner could change them under the process using them. */
static void test_file_of_other_user(void **state)
{
    struct tu_dir *d = *state;
    struct other_user who = other_user();
    char want[64], inst[PATH_MAX], file[PATH_MAX];
    snprintf(want, sizeof want, "owned by uid %u, not by uid 0",
             (unsigned)who.uid);
    for (size_t i = 0; i < INSTANCE_FILES; i++) {
        path_in(inst, d->root, instance_files[i]);
        make_instance(inst, "k", "v");
        path_in(file, inst, instance_files[i]);
        assert_int_equal(chown(file, who.uid, (gid_t)-1), 0);
        assert_int_equal(open_refused(inst, 0, SHMC_EUNSAFE, file, want), 0);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        tu_test_in_dir(test_shared_root_is_public),
        tu_test_in_dir(test_group_instance_in_shared_root),
        tu_test_in_dir(test_other_user_cannot_reach_instance),
        tu_test_in_dir(test_shared_root_made_by_other_user),
        tu_test_in_dir(test_planted_instance_dir),
        tu_test_in_dir(test_planted_symlinks),
        tu_test_in_dir(test_planted_symlink_in_shared_root),
        tu_test_in_dir(test_planted_parent),
        tu_test_in_dir(test_file_of_other_user),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
