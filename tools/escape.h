/* escape.h - keys as text: shmcache-ctl prints keys with their unprintable
 * bytes escaped, and reads escaped keys back with --escaped, so that any
 * key it lists can be given to it again. */
#ifndef SHMC_TOOLS_ESCAPE_H
#define SHMC_TOOLS_ESCAPE_H

#include <stddef.h>
#include <stdio.h>

/* Write the len bytes of s to out: printable ASCII as is, every other byte
 * and the backslash as \xNN (two lower-case hex digits). */
void escape_write(FILE *out, const void *s, size_t len);

/* Decode the \xNN escapes of the NUL-terminated s in place (the result is
 * never longer); every backslash must start one. Returns the decoded
 * length, or -1 (s then unspecified) for a malformed escape. */
long unescape_in_place(char *s);

#endif
