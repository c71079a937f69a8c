/* bridge.c - see bridge.h: settings, start and stop. */
#include "bridge_threads.h"

#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

void bridge_log_shmc(const struct bridge *b, const char *what, int rc)
{
    const char *detail = shmc_last_error();
    log_msg(LOG_LEVEL_ERROR, "%s: bridge: %s: %s%s%s", b->path, what,
            shmc_strerror(rc), *detail ? ": " : "", detail);
}

static int host_id_make(const struct config *cfg, char *out, size_t size)
{
    if (cfg->host_id) {
        snprintf(out, size, "%s", cfg->host_id);
        return 0;
    }
    char name[256];
    if (gethostname(name, sizeof name) != 0)
        return -1;
    name[sizeof name - 1] = '\0';
    size_t n = strlen(name);
    if (n == 0 || n >= size)
        return -1;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)name[i] <= ' ' || (unsigned char)name[i] > '~')
            return -1;
    memcpy(out, name, n + 1);
    return 0;
}

int bridge_settings_make(const struct config *cfg, const char *path,
                         struct bridge_settings *out)
{
    char why[160];
    memset(out, 0, sizeof *out);
    if (redis_url_parse(cfg->redis, &out->url, why, sizeof why) != 0) {
        log_msg(LOG_LEVEL_WARNING,
                "%s: no bridge: the Redis URL is not usable: %s", path, why);
        return -1;
    }
    if (!cfg->bridge_secret_file) {
        log_msg(LOG_LEVEL_WARNING,
                "%s: no bridge: --redis needs --bridge-secret-file (the "
                "secret every host signs revocations with)",
                path);
        return -1;
    }
    int rc = shmc_key_file_read(cfg->bridge_secret_file, out->secret);
    if (rc) {
        log_msg(LOG_LEVEL_WARNING, "%s: no bridge: %s: %s: %s", path,
                cfg->bridge_secret_file, shmc_strerror(rc),
                shmc_last_error());
        return -1;
    }
    if (host_id_make(cfg, out->host_id, sizeof out->host_id)) {
        log_msg(LOG_LEVEL_WARNING,
                "%s: no bridge: the hostname is not a usable host id (1 to "
                "%u printable characters): give --host-id",
                path, BRIDGE_MSG_MAX_ORIGIN);
        OPENSSL_cleanse(out->secret, sizeof out->secret);
        return -1;
    }
    const char *name = strrchr(path, '/');
    snprintf(out->stream, sizeof out->stream, "%s:%s", cfg->stream,
             name && name[1] ? name + 1 : path);
    snprintf(out->maxlen, sizeof out->maxlen, "%u", cfg->stream_maxlen);
    out->outbox_max = cfg->outbox_max;
    return 0;
}

struct bridge *bridge_start(shmc_cache *cache, const char *path,
                            const struct bridge_settings *s)
{
    struct bridge *b = calloc(1, sizeof *b);
    if (!b) {
        log_msg(LOG_LEVEL_ERROR, "%s: bridge: out of memory", path);
        return NULL;
    }
    b->cache = cache;
    b->path = path;
    b->s = *s;
    char who[CONFIG_MAX_PATH_LEN + 32];
    snprintf(who, sizeof who, "%s: bridge sender", path);
    redis_conn_init(&b->send_conn, &b->s.url, who, &b->stop);
    snprintf(who, sizeof who, "%s: bridge receiver", path);
    redis_conn_init(&b->recv_conn, &b->s.url, who, &b->stop);
    int rc = shmc_outbox_enable(cache, s->outbox_max);
    if (rc) {
        bridge_log_shmc(b, "turning the outbox on", rc);
        bridge_stop(b);
        return NULL;
    }
    if (pthread_create(&b->sender, NULL, bridge_send_main, b) == 0)
        b->threads++;
    if (b->threads == 1 &&
        pthread_create(&b->receiver, NULL, bridge_recv_main, b) == 0)
        b->threads++;
    if (b->threads != 2) {
        log_msg(LOG_LEVEL_ERROR, "%s: bridge: cannot start its threads",
                path);
        bridge_stop(b);
        return NULL;
    }
    log_msg(LOG_LEVEL_NOTICE,
            "%s: bridge to %s, stream %s, as host %s (outbox up to %u)",
            path, b->send_conn.url_text, b->s.stream, b->s.host_id,
            b->s.outbox_max);
    return b;
}

void bridge_stop(struct bridge *b)
{
    if (!b)
        return;
    atomic_store(&b->stop, 1);
    redis_conn_interrupt(&b->recv_conn);
    if (b->threads > 0)
        pthread_join(b->sender, NULL);
    if (b->threads > 1)
        pthread_join(b->receiver, NULL);
    redis_conn_close(&b->send_conn);
    redis_conn_close(&b->recv_conn);
    OPENSSL_cleanse(&b->s, sizeof b->s);
    free(b);
}
