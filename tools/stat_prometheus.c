/* stat_prometheus.c - shmcache-stat --prometheus: the text exposition
 * format (version 0.0.4), for node_exporter's textfile collector or any
 * scraper that runs a command. Counters are named *_total; ratios are left
 * to the queries (rate(shmcache_hits_total[5m]) / ...), which compute them
 * over the window they want. */
#include "stat.h"

/* A label value: backslash, double quote and newline are escaped. */
static void put_label_value(FILE *out, const char *s)
{
    for (; *s; s++) {
        if (*s == '\\' || *s == '"')
            fprintf(out, "\\%c", *s);
        else if (*s == '\n')
            fputs("\\n", out);
        else
            fputc(*s, out);
    }
}

static void put_metric(FILE *out, const struct stat_frame *cur,
                       const struct stat_field *f)
{
    const char *suffix = f->kind == STAT_COUNTER ? "_total" : "";
    const char *type = f->kind == STAT_COUNTER ? "counter" : "gauge";
    uint64_t v = stat_value(cur, f);

    fprintf(out, "# HELP shmcache_%s%s %s\n", f->metric, suffix, f->help);
    fprintf(out, "# TYPE shmcache_%s%s %s\n", f->metric, suffix, type);
    fprintf(out, "shmcache_%s%s{instance=\"", f->metric, suffix);
    put_label_value(out, cur->path);
    if (f->kind == STAT_TIME_MS)
        fprintf(out, "\"} %llu.%03llu\n", (unsigned long long)(v / 1000),
                (unsigned long long)(v % 1000));
    else
        fprintf(out, "\"} %llu\n", (unsigned long long)v);
}

void stat_print_prometheus(FILE *out, const struct stat_frame *cur)
{
    for (size_t i = 0; i < stat_field_count; i++)
        put_metric(out, cur, &stat_fields[i]);
}
