/* ctl_entries.c - shmcache-ctl's commands on entries: get, set, del,
 * revoke, invalidate-prefix, flush and keys. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "ctl.h"
#include "escape.h"

/* The exit status of a call on one key; a missing key is said on stderr
 * (stdout stays for the value) and is status 1, as grep's "no match". */
static int key_status(const char *cmd, const struct ctl_arg *key, int rc)
{
    if (rc == 0)
        return CTL_DONE;
    if (rc != SHMC_ENOTFOUND)
        return ctl_fail(cmd, rc);
    fprintf(stderr, "%s: %s: ", cli_prog, cmd);
    escape_write(stderr, key->bytes, key->len);
    fputs(": not found\n", stderr);
    return CTL_NOT_FOUND;
}

int ctl_get(shmc_cache *c, const struct ctl_args *a)
{
    const struct ctl_arg *key = &a->arg[0];
    void *val;
    size_t len;
    int rc = shmc_get_alloc(c, key->bytes, key->len, &val, &len, NULL,
                            a->get_flags);
    if (rc == SHMC_STALE)
        rc = 0;
    if (rc == 0) {
        fwrite(val, 1, len, stdout);
        shmc_free(val);
    }
    return key_status("get", key, rc);
}

/* All of stdin, binary-safe, into *out (free it). 0, or -1 after saying
 * why. */
static int read_stdin(char **out, size_t *len)
{
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    while (buf) {
        n += fread(buf + n, 1, cap - n, stdin);
        if (n < cap)
            break;
        char *bigger = cap <= SIZE_MAX / 2 ? realloc(buf, cap * 2) : NULL;
        if (!bigger) {
            free(buf);
            buf = NULL;
            errno = ENOMEM;
            break;
        }
        buf = bigger;
        cap *= 2;
    }
    if (!buf || ferror(stdin)) {
        cli_error("set: cannot read the value from stdin: %s",
                  strerror(errno));
        free(buf);
        return -1;
    }
    *out = buf;
    *len = n;
    return 0;
}

int ctl_set(shmc_cache *c, const struct ctl_args *a)
{
    const struct ctl_arg *key = &a->arg[0], *value = &a->arg[1];
    char *from_stdin = NULL;
    const char *val = value->bytes;
    size_t vlen = value->len;
    if (vlen == 1 && val[0] == '-') {
        if (read_stdin(&from_stdin, &vlen))
            return CTL_TROUBLE;
        val = from_stdin;
    }
    shmc_set_opts so = {.ttl_ms = a->ttl_ms,
                        .stale_ms = a->stale_window_ms};
    int rc = shmc_set_ex(c, key->bytes, key->len, val, vlen, &so, NULL);
    free(from_stdin);
    return rc ? ctl_fail("set", rc) : CTL_DONE;
}

int ctl_del(shmc_cache *c, const struct ctl_args *a)
{
    const struct ctl_arg *key = &a->arg[0];
    return key_status("del", key, shmc_del(c, key->bytes, key->len));
}

int ctl_revoke(shmc_cache *c, const struct ctl_args *a)
{
    const struct ctl_arg *key = &a->arg[0];
    return key_status("revoke", key, shmc_revoke(c, key->bytes, key->len));
}

int ctl_invalidate_prefix(shmc_cache *c, const struct ctl_args *a)
{
    size_t deleted;
    int rc = shmc_revoke_prefix(c, a->arg[0].bytes, a->arg[0].len, &deleted);
    if (rc)
        return ctl_fail("invalidate-prefix", rc);
    printf("%zu\n", deleted);
    return CTL_DONE;
}

int ctl_flush(shmc_cache *c, const struct ctl_args *a)
{
    (void)a;
    int rc = shmc_revoke_all(c);
    return rc ? ctl_fail("flush", rc) : CTL_DONE;
}

/* keys: the listing is gathered in memory and printed after the scan, so
 * that a slow reader of stdout (a pager) does not keep the scan's snapshot,
 * and the pages it pins, alive. */
struct listing {
    FILE *out; /* a memory stream */
    uint64_t limit, listed;
    int cut;
};

static int list_key(const void *key, size_t klen, const shmc_meta *meta,
                    void *arg)
{
    struct listing *l = arg;
    (void)meta;
    if (l->listed == l->limit) {
        l->cut = 1;
        return 1;
    }
    escape_write(l->out, key, klen);
    fputc('\n', l->out);
    l->listed++;
    return 0;
}

int ctl_keys(shmc_cache *c, const struct ctl_args *a)
{
    char *text = NULL;
    size_t size = 0;
    struct listing l = {.out = open_memstream(&text, &size),
                        .limit = a->limit};
    if (!l.out)
        return ctl_fail("keys", -errno);
    struct ctl_arg every = {"", 0};
    const struct ctl_arg *prefix = a->count ? &a->arg[0] : &every;
    int rc = shmc_scan(c, prefix->bytes, prefix->len, a->scan_flags,
                       list_key, &l);
    int lost = ferror(l.out);
    if (fclose(l.out) != 0)
        lost = 1;
    if (rc < 0 || lost) {
        free(text);
        return ctl_fail("keys", rc < 0 ? rc : -ENOMEM);
    }
    fwrite(text, 1, size, stdout);
    free(text);
    if (l.cut)
        cli_error("keys: listing cut at %llu keys (raise --limit for more)",
                  (unsigned long long)l.listed);
    return CTL_DONE;
}
