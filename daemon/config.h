/* config.h - shmcached's settings and the parser of its configuration file.
 *
 * The parser does no I/O and keeps no state between calls: it turns a
 * buffer into a struct config, or names the line that is wrong, so that it
 * can be fed anything (tests/fuzz_config.c). It is strict: an unknown key,
 * a key given twice, a value out of range or a stray byte is an error, never
 * a guess.
 *
 * The format: one "key = value" per line; blank lines and lines whose first
 * non-blank character is '#' are ignored. The value runs to the end of the
 * line, blanks around it dropped ('#' inside a value is part of it). Keys:
 *
 *   path             an instance directory, absolute; repeat for several
 *   tick_ms          time between two rounds of maintenance
 *   sweep_budget_ms  time one instance's sweep may take in a round
 *   high_watermark   percent of the map in use above which shmcached evicts
 *   low_watermark    percent it evicts down to
 *   pidfile          where to write the pid, absolute
 *   map_size, max_readers, group, lock_slots, recency_slots
 *                    shmc_opts for an instance shmcached creates
 *
 * The Redis bridge (see bridge.h), on when redis is given:
 *   redis            redis://[user:password@]host[:port][/db] or
 *                    unix:///path (checked when the bridge starts: a bad
 *                    one is a warning, and the daemon goes on without it)
 *   bridge_secret_file  the shared secret that signs messages, absolute
 *   host_id          this host's name in messages (default: the hostname)
 *   stream           the Redis stream's name; each instance uses
 *                    "<stream>:<the instance directory's name>"
 *   stream_maxlen    approximate length the stream is trimmed to
 *   outbox_max       revocations an instance holds while Redis is away
 */
#ifndef SHMCD_CONFIG_H
#define SHMCD_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "shmcache.h"

/* Bounds that keep the parser's work and memory small whatever it is fed. */
#define CONFIG_MAX_BYTES (64u * 1024)
#define CONFIG_MAX_LINE 4096u
#define CONFIG_MAX_PATHS 64u
#define CONFIG_MAX_PATH_LEN 1024u
#define CONFIG_MAX_GROUP_LEN 64u

#define CONFIG_DEFAULT_TICK_MS 100u
#define CONFIG_DEFAULT_SWEEP_BUDGET_MS 5u
#define CONFIG_DEFAULT_LOW_WATERMARK 80u
#define CONFIG_MAX_URL_LEN 1024u
#define CONFIG_MAX_HOST_ID_LEN 64u
#define CONFIG_MAX_STREAM_LEN 200u
#define CONFIG_DEFAULT_STREAM "shmcache:revocations"
#define CONFIG_DEFAULT_STREAM_MAXLEN 100000u
#define CONFIG_DEFAULT_OUTBOX_MAX 100000u

/* Settings. Zero (or NULL) means "not given": config_finish() puts the
 * defaults in, and config_merge() lets only what was given override. The
 * strings are owned by the struct (config_free). */
struct config {
    char *paths[CONFIG_MAX_PATHS];
    unsigned npaths;
    unsigned tick_ms;
    unsigned sweep_budget_ms;
    unsigned high_watermark;
    unsigned low_watermark;
    char *pidfile;
    /* Options of shmc_open() for the instances: used when one is created. */
    uint64_t map_size;
    unsigned max_readers;
    char *group;
    unsigned lock_slots;
    unsigned recency_slots;
    /* The bridge. */
    char *redis;
    char *bridge_secret_file;
    char *host_id;
    char *stream;
    unsigned stream_maxlen;
    unsigned outbox_max;
};

/* Why a parse or a check failed. line is 1-based; 0 when the error is
 * about the whole input. */
struct config_error {
    unsigned line;
    char message[160];
};

/* A config with nothing given. */
void config_init(struct config *c);

/* Free what c owns and make it empty again. */
void config_free(struct config *c);

/* Set key (as spelled in the file) to value: a path is added to the list,
 * anything else replaced. Returns 0, or -1 with the reason in msg (without
 * the key's name, so that the caller can say how it was given). */
int config_set(struct config *c, const char *key, const char *value,
               char *msg, size_t msgsize);

/* Parse len bytes of buf into *out, which config_parse initialises. Returns
 * 0, or -1 with *err filled and *out empty. */
int config_parse(const char *buf, size_t len, struct config *out,
                 struct config_error *err);

/* Let what over gives replace base's: every field over gives, and base's
 * whole list of paths when over gives any. Returns 0, or -1 (out of memory,
 * base then partly merged). */
int config_merge(struct config *base, const struct config *over);

/* Fill in the defaults (SHMC_DEFAULT_PATH when no path is given) and check
 * the settings against each other. Returns 0, or -1 with *err filled. */
int config_finish(struct config *c, struct config_error *err);

/* The shmc_opts that c gives an instance. Points into c. */
shmc_opts config_instance_opts(const struct config *c);

#endif
