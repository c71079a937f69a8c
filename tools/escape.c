/* escape.c - keys as text (escape.h). */
#include <string.h>

#include "escape.h"

static int is_plain(unsigned char b)
{
    return b >= 0x20 && b < 0x7f && b != '\\';
}

void escape_write(FILE *out, const void *s, size_t len)
{
    const unsigned char *p = s;
    for (size_t i = 0; i < len; i++) {
        if (is_plain(p[i]))
            fputc(p[i], out);
        else
            fprintf(out, "\\x%02x", p[i]);
    }
}

static int hex_digit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

long unescape_in_place(char *s)
{
    char *out = s;
    for (const char *in = s; *in; out++) {
        if (*in != '\\') {
            *out = *in++;
            continue;
        }
        int hi = in[1] == 'x' ? hex_digit(in[2]) : -1;
        int lo = hi >= 0 ? hex_digit(in[3]) : -1;
        if (lo < 0)
            return -1;
        *out = (char)(hi << 4 | lo);
        in += 4;
    }
    return out - s;
}
