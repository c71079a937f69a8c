/* stat_json.c - shmcache-stat --json: one JSON object on one line, keys
 * named after the members of shmc_info and shmc_stats, numbers as numbers,
 * null for a figure that is undefined (a hit ratio before any read). */
#include "stat.h"

/* A JSON string: the path is bytes from the command line, so quotes,
 * backslashes and control characters are escaped; other bytes pass as they
 * are (a UTF-8 path stays readable). */
static void put_string(FILE *out, const char *s)
{
    fputc('"', out);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            fprintf(out, "\\%c", *p);
        else if (*p < 0x20)
            fprintf(out, "\\u%04x", *p);
        else
            fputc(*p, out);
    }
    fputc('"', out);
}

static void put_ratio(FILE *out, const char *key,
                      int (*ratio)(const struct stat_frame *, double *),
                      const struct stat_frame *cur)
{
    double v;
    if (ratio(cur, &v) == 0)
        fprintf(out, ",\"%s\":%.6f", key, v);
    else
        fprintf(out, ",\"%s\":null", key);
}

void stat_print_json(FILE *out, const struct stat_frame *cur)
{
    fputs("{\"path\":", out);
    put_string(out, cur->path);
    fprintf(out, ",\"time_ms\":%llu", (unsigned long long)cur->wall_ms);
    for (size_t i = 0; i < stat_field_count; i++)
        fprintf(out, ",\"%s\":%llu", stat_fields[i].name,
                (unsigned long long)stat_value(cur, &stat_fields[i]));

    fprintf(out, ",\"map_used_percent\":%.2f", stat_map_used_percent(cur));
    put_ratio(out, "hit_ratio", stat_hit_ratio, cur);
    put_ratio(out, "l1_share", stat_l1_share, cur);
    uint64_t last = cur->stats.last_sweep_ms;
    if (last == 0)
        fputs(",\"last_sweep_age_ms\":null", out);
    else
        fprintf(out, ",\"last_sweep_age_ms\":%llu",
                (unsigned long long)(cur->wall_ms > last ? cur->wall_ms - last
                                                         : 0));
    fputs("}\n", out);
}
