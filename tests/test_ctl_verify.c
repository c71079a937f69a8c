/* test_ctl_verify.c - shmcache-ctl verify on an instance with damaged
 * records, written through the store behind the library's back: it prints
 * each problem with its key escaped, a summary that counts them, and exits
 * 2; and 0 again once the damage is gone. (test_tools.sh runs it on
 * healthy instances.) */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "instance.h"
#include "record.h"
#include "toolrun.h"

#define RUN_TIMEOUT_MS 20000u
#define HOUR_MS 3600000u

/* Store r under key as it is, bypassing every check of the write path. */
static void put_raw(shmc_cache *c, const char *key, size_t klen,
                    const struct shmc__record *r)
{
    struct shmc__txn t;
    void *dst;
    tu_assert_rc(shmc__write_begin(tu_instance(c)->store, &t), 0);
    int rc = shmc__put(&t, SHMC__T_ENTRIES, key, klen, shmc__record_size(r),
                       &dst);
    if (rc) {
        shmc__write_abort(&t);
        tu_assert_rc(rc, 0);
    }
    shmc__record_encode(dst, r);
    tu_assert_rc(shmc__write_commit(&t), 0);
}

static void verify(const struct tu_dir *d, struct tr_result *r)
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "'%s' --path '%s' verify",
             tr_tool("tools/shmcache-ctl"), d->inst);
    tr_run(d->root, cmd, RUN_TIMEOUT_MS, r);
    if (r->err_len)
        fail_msg("verify said on stderr: %s", r->err);
}

static void test_verify_reports_damaged_records(void **state)
{
    struct tu_cache *tc = *state;
    uint64_t now = shmc_now_ms();
    static const char backwards_key[] = "bad\ntimes";
    struct shmc__record backwards = {
        .version = now << SHMC__VERSION_SHIFT,
        .fresh_until = now + 2 * HOUR_MS,
        .expires_at = now + HOUR_MS,
        .value = "v",
        .value_len = 1,
    };
    struct shmc__record future = backwards;
    future.version = (now + 24 * HOUR_MS) << SHMC__VERSION_SHIFT;
    future.fresh_until = future.expires_at = UINT64_MAX;

    tu_set(tc->c, "good", "value");
    put_raw(tc->c, backwards_key, sizeof backwards_key - 1, &backwards);
    put_raw(tc->c, "from-the-future", 15, &future);

    struct tr_result r;
    verify(&tc->dir, &r);
    assert_int_equal(r.exit_status, 2);
    assert_string_equal(r.out,
                        "bad\\x0atimes: fresh-until after expires-at\n"
                        "from-the-future: written in the future\n"
                        "3 records checked: 2 problems, 0 expired\n");
    tr_free(&r);

    tu_assert_rc(shmc_clear(tc->c), 0);
    tu_set(tc->c, "good", "value");
    verify(&tc->dir, &r);
    assert_int_equal(r.exit_status, 0);
    assert_string_equal(r.out, "1 records checked: 0 problems, 0 expired\n");
    tr_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        tu_test_with_cache(test_verify_reports_damaged_records),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
