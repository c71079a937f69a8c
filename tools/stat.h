/* stat.h - what shmcache-stat reads from an instance (one frame) and the
 * fields it shows, shared by its three output formats. */
#ifndef SHMC_STAT_H
#define SHMC_STAT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "shmcache.h"

/* One reading of an instance. */
struct stat_frame {
    const char *path;
    shmc_info info;
    shmc_stats stats;
    uint64_t wall_ms;  /* shmc_now_ms() when read */
    uint64_t mono_ns;  /* CLOCK_MONOTONIC when read, for rates */
};

enum stat_kind {
    STAT_GAUGE,     /* a level: entries, bytes, slots */
    STAT_COUNTER,   /* only grows: has a rate */
    STAT_TIME_MS,   /* a wall-clock time in ms, 0 for never */
};

/* A field of shmc_info or shmc_stats. name is the struct field's and the
 * JSON key; metric is the Prometheus name without "shmcache_" (counters
 * get "_total" on top); help is the HELP text and the man page's. */
struct stat_field {
    const char *name;
    const char *metric;
    const char *help;
    enum stat_kind kind;
    size_t offset; /* in struct stat_frame */
    size_t size;   /* 4 or 8 bytes */
};

/* Every field, shmc_info's first, then shmc_stats' in struct order. */
extern const struct stat_field stat_fields[];
extern const size_t stat_field_count;

/* The value of field f in frame. */
uint64_t stat_value(const struct stat_frame *frame,
                    const struct stat_field *f);

/* Derived figures; each returns 0 and sets *out, or -1 when undefined
 * (no reads yet, no hits yet). */
int stat_hit_ratio(const struct stat_frame *frame, double *out);
int stat_l1_share(const struct stat_frame *frame, double *out);
double stat_map_used_percent(const struct stat_frame *frame);

/* The output formats (stat_table.c, stat_json.c, stat_prometheus.c). With
 * show_rates (--watch) the table has a column of the counters' rates per
 * second since prev, the previous frame ("-" while prev is NULL). */
void stat_print_table(FILE *out, const struct stat_frame *cur,
                      const struct stat_frame *prev, int show_rates);
void stat_print_json(FILE *out, const struct stat_frame *cur);
void stat_print_prometheus(FILE *out, const struct stat_frame *cur);

#endif
