/* fuzzreplay.c - see fuzzreplay.h. */
#include "fuzzreplay.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static unsigned passed, failed;

void fr_pass(const char *name, const char *note)
{
    printf("ok %s%s%s\n", name, note ? ": " : "", note ? note : "");
    passed++;
}

void fr_fail(const char *name, const char *fmt, ...)
{
    va_list ap;
    printf("FAIL %s: ", name);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    putchar('\n');
    failed++;
}

uint8_t *fr_xmalloc(const char *prog, size_t size)
{
    uint8_t *p = malloc(size ? size : 1);
    if (!p) {
        fprintf(stderr, "%s: out of memory\n", prog);
        exit(99);
    }
    return p;
}

/* Read the file name of directory dirfd into a buffer of exactly its
 * size. Returns it (NULL for an empty file, *size 0) or exits on a read
 * error. */
static uint8_t *read_file(const char *prog, int dirfd, const char *name,
                          size_t *size)
{
    int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC);
    FILE *f = fd >= 0 ? fdopen(fd, "rb") : NULL;
    if (!f || fseek(f, 0, SEEK_END) != 0) {
        fprintf(stderr, "%s: %s: %s\n", prog, name, strerror(errno));
        exit(99);
    }
    long len = ftell(f);
    rewind(f);
    uint8_t *buf = len > 0 ? malloc((size_t)len) : NULL;
    if (len < 0 || (len > 0 && (!buf || fread(buf, 1, (size_t)len, f) !=
                                            (size_t)len))) {
        fprintf(stderr, "%s: cannot read %s\n", prog, name);
        exit(99);
    }
    fclose(f);
    *size = (size_t)len;
    return buf;
}

void fr_replay_dir(const char *prog, const char *dir, fr_input_fn fn)
{
    DIR *d = opendir(dir);
    if (!d) {
        fprintf(stderr, "%s: %s: %s\n", prog, dir, strerror(errno));
        exit(99);
    }
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        size_t size;
        uint8_t *data = read_file(prog, dirfd(d), e->d_name, &size);
        fn(e->d_name, data, size);
        free(data);
    }
    closedir(d);
}

void fr_corpus_dir(int argc, char **argv, const char *sub, char *dir,
                   size_t cap)
{
    const char *srcdir = getenv("srcdir");
    if (argc > 1)
        snprintf(dir, cap, "%s", argv[1]);
    else
        snprintf(dir, cap, "%s/%s", srcdir ? srcdir : ".", sub);
}

int fr_finish(const char *prog, const char *dir, unsigned min_inputs)
{
    printf("%u passed, %u failed\n", passed, failed);
    if (passed + failed < min_inputs) {
        fprintf(stderr, "%s: too few inputs in %s\n", prog, dir);
        return 99;
    }
    return failed ? 1 : 0;
}
