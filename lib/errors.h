/* errors.h - the per-thread detail message behind shmc_last_error(). */
#ifndef SHMC_ERRORS_H
#define SHMC_ERRORS_H

/*
 * Record the details of a failure for shmc_last_error() and return err, so
 * that a failing path reads `return shmc__fail(SHMC_EUNSAFE, "...", ...)`.
 */
int shmc__fail(int err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Forget the previous failure's details (at the start of a public call that
 * can fail in several places). */
void shmc__clear_error(void);

#endif
