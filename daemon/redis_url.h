/* redis_url.h - where the bridge finds Redis, as a URL. Pure: no I/O, no
 * state (fuzzed by tests/fuzz_bridge.c).
 *
 * Forms:
 *   redis://[user:password@]host[:port][/db]   (":password@" alone too)
 *   unix:///absolute/path
 * host is a name or IPv4 address ([A-Za-z0-9.-]) or a bracketed IPv6
 * address; port 1..65535 (default 6379); db 0..65535 (default 0); user and
 * password are percent-decoded. Anything else is refused with a reason. */
#ifndef SHMCD_REDIS_URL_H
#define SHMCD_REDIS_URL_H

#include <stddef.h>

#define REDIS_URL_MAX_LEN 1024u
#define REDIS_URL_DEFAULT_PORT 6379u

struct redis_url {
    int is_unix; /* 1: the unix socket at path */
    char host[256];
    unsigned port;
    char path[108];
    char user[128]; /* "" for none */
    char password[512];
    int has_password;
    unsigned db;
};

/* Parse s into *out. Returns 0, or -1 with a one-line reason in why
 * (whysize bytes, may be 0). */
int redis_url_parse(const char *s, struct redis_url *out, char *why,
                    size_t whysize);

/* u as a URL for the log, its password shown as "***". */
void redis_url_describe(const struct redis_url *u, char *out, size_t outsize);

#endif
