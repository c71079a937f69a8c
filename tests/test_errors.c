/* test_errors.c - lib/errors.c: the names and messages of every return
 * value, and the per-thread detail of the last failure. */
#include "testutil.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

struct code {
    int value;
    const char *name; /* "SHMC_<NAME>", as the table spells it */
    const char *msg;
};

/* Built from the X-macro itself, so a code added to the map is covered
 * without touching this file. */
static const struct code codes[] = {
#define CODE_ROW(name, value, msg) {SHMC_##name, "SHMC_" #name, msg},
    SHMC_ERRNO_MAP(CODE_ROW)
#undef CODE_ROW
};
#define N_CODES (sizeof codes / sizeof codes[0])

static void assert_described(int err)
{
    const char *name = shmc_err_name(err);
    const char *msg = shmc_strerror(err);
    assert_non_null(name);
    assert_non_null(msg);
    assert_true(name[0] != '\0');
    assert_true(msg[0] != '\0');
}

static void every_code_has_its_name_and_message(void **state)
{
    (void)state;
    for (size_t i = 0; i < N_CODES; i++) {
        assert_described(codes[i].value);
        assert_string_equal(shmc_err_name(codes[i].value), codes[i].name);
        assert_string_equal(shmc_strerror(codes[i].value), codes[i].msg);
    }
}

static void codes_are_distinct(void **state)
{
    (void)state;
    for (size_t i = 0; i < N_CODES; i++) {
        for (size_t j = i + 1; j < N_CODES; j++) {
            assert_int_not_equal(codes[i].value, codes[j].value);
            assert_string_not_equal(shmc_err_name(codes[i].value),
                                    shmc_err_name(codes[j].value));
            assert_string_not_equal(shmc_strerror(codes[i].value),
                                    shmc_strerror(codes[j].value));
        }
    }
}

/* Calls return either a SHMC_E* code or -errno: a code that is also an
 * errno value would make the two indistinguishable. */
static void codes_do_not_shadow_errno_values(void **state)
{
    (void)state;
    for (size_t i = 0; i < N_CODES; i++) {
        assert_true(codes[i].value < 0);
        assert_null(strerrorname_np(-codes[i].value));
    }
}

static void success_and_stale_are_described(void **state)
{
    (void)state;
    assert_described(0);
    assert_described(SHMC_STALE);
    assert_string_equal(shmc_err_name(0), "OK");
    assert_string_equal(shmc_err_name(SHMC_STALE), "SHMC_STALE");
    assert_string_not_equal(shmc_strerror(0), shmc_strerror(SHMC_STALE));
}

static void negative_errno_values_are_described(void **state)
{
    (void)state;
    static const int errnos[] = {ENOENT, ENOMEM, EACCES, EMFILE, EINTR};
    for (size_t i = 0; i < sizeof errnos / sizeof errnos[0]; i++) {
        assert_string_equal(shmc_err_name(-errnos[i]),
                            strerrorname_np(errnos[i]));
        /* The test never calls setlocale, so strerror is untranslated. */
        assert_string_equal(shmc_strerror(-errnos[i]), strerror(errnos[i]));
    }
    assert_string_equal(shmc_err_name(-ENOENT), "ENOENT");
}

static void unknown_values_are_described(void **state)
{
    (void)state;
    static const int unknown[] = {12345, -99999, 2, INT_MAX, INT_MIN};
    for (size_t i = 0; i < sizeof unknown / sizeof unknown[0]; i++) {
        assert_described(unknown[i]);
        /* Unknown must not borrow a known value's name. */
        assert_string_not_equal(shmc_err_name(unknown[i]), "OK");
        assert_string_not_equal(shmc_err_name(unknown[i]), "SHMC_STALE");
    }
}

struct thread_failure {
    char detail_at_start[512];
    char detail_after[512];
    int rc;
};

static void copy_detail(char *dst, size_t size)
{
    snprintf(dst, size, "%s", shmc_last_error());
}

/* No cmocka assert in here: it would longjmp across threads. The main
 * thread checks what this one recorded. */
static void *fail_open_with_empty_path(void *arg)
{
    struct thread_failure *f = arg;
    shmc_cache *c = NULL;
    copy_detail(f->detail_at_start, sizeof f->detail_at_start);
    f->rc = shmc_open(&c, "", NULL);
    copy_detail(f->detail_after, sizeof f->detail_after);
    shmc_close(c);
    return NULL;
}

static void last_error_is_per_thread(void **state)
{
    const struct tu_dir *d = *state;
    shmc_opts tiny = {.map_size = 4096};
    shmc_cache *c = NULL;
    assert_int_equal(shmc_open(&c, d->inst, &tiny), SHMC_EINVAL);
    assert_null(c);
    char main_detail[512];
    copy_detail(main_detail, sizeof main_detail);
    assert_non_null(strstr(main_detail, "map_size"));
    assert_non_null(strstr(main_detail, "4096"));

    struct thread_failure f = {.rc = 0};
    pthread_t th;
    tu_start_thread(&th, fail_open_with_empty_path, &f);
    tu_join_thread(th);

    assert_string_equal(f.detail_at_start, "");
    assert_int_equal(f.rc, SHMC_EINVAL);
    assert_non_null(strstr(f.detail_after, "empty"));
    assert_string_equal(shmc_last_error(), main_detail);
}

static void next_failure_replaces_the_detail(void **state)
{
    const struct tu_dir *d = *state;
    shmc_opts tiny = {.map_size = 4096};
    shmc_cache *c = NULL;
    assert_int_equal(shmc_open(&c, "", NULL), SHMC_EINVAL);
    assert_non_null(strstr(shmc_last_error(), "empty"));
    assert_int_equal(shmc_open(&c, d->inst, &tiny), SHMC_EINVAL);
    assert_null(c);
    assert_non_null(strstr(shmc_last_error(), "map_size"));
    assert_null(strstr(shmc_last_error(), "empty"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_code_has_its_name_and_message),
        cmocka_unit_test(codes_are_distinct),
        cmocka_unit_test(codes_do_not_shadow_errno_values),
        cmocka_unit_test(success_and_stale_are_described),
        cmocka_unit_test(negative_errno_values_are_described),
        cmocka_unit_test(unknown_values_are_described),
        /* Each test that opens gets a fresh directory. */
        tu_test_in_dir(last_error_is_per_thread),
        tu_test_in_dir(next_failure_replaces_the_detail),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
