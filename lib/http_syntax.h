/* http_syntax.h - the bits of RFC 9110's grammar the HTTP helpers share. */
#ifndef SHMC_HTTP_SYNTAX_H
#define SHMC_HTTP_SYNTAX_H

#include <string.h>

/* tchar of a token. */
static inline int shmc__http_tchar(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9') || (c && strchr("!#$%&'*+-.^_`|~", c));
}

/* Past optional whitespace (SP, HTAB) from p, before end. */
static inline const char *shmc__http_skip_ows(const char *p, const char *end)
{
    while (p < end && (*p == ' ' || *p == '\t'))
        p++;
    return p;
}

#endif
