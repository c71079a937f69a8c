/* stat_table.c - shmcache-stat's table for people: what the instance is and
 * how full, then every counter, with its rate per second when watching. */
#include "stat.h"

/* "268435456 (256.0 MiB)": exact for scripts that grep, short for eyes. */
static const char *bytes_text(uint64_t n, char *buf, size_t size)
{
    static const char *const units[] = {"KiB", "MiB", "GiB", "TiB"};
    if (n < 1024) {
        snprintf(buf, size, "%llu bytes", (unsigned long long)n);
        return buf;
    }
    double v = (double)n / 1024;
    size_t u = 0;
    while (v >= 1024 && u + 1 < sizeof units / sizeof units[0]) {
        v /= 1024;
        u++;
    }
    snprintf(buf, size, "%llu (%.1f %s)", (unsigned long long)n, v,
             units[u]);
    return buf;
}

static void print_ratios(FILE *out, const struct stat_frame *cur)
{
    double hit, l1;
    fprintf(out, "%-16s", "hit ratio");
    if (stat_hit_ratio(cur, &hit) != 0) {
        fputs("- (no reads yet)\n", out);
        return;
    }
    fprintf(out, "%.2f%%", 100 * hit);
    if (stat_l1_share(cur, &l1) == 0)
        fprintf(out, " (L1 share of hits %.2f%%)", 100 * l1);
    fputc('\n', out);
}

static void print_last_sweep(FILE *out, const struct stat_frame *cur)
{
    uint64_t last = cur->stats.last_sweep_ms;
    fprintf(out, "%-16s", "last sweep");
    if (last == 0)
        fputs("never\n", out);
    else
        fprintf(out, "%llu s ago\n",
                (unsigned long long)(cur->wall_ms > last
                                         ? (cur->wall_ms - last) / 1000
                                         : 0));
}

static void print_bridge(FILE *out, const struct stat_frame *cur)
{
    const shmc_info *in = &cur->info;
    const shmc_stats *st = &cur->stats;
    fprintf(out, "%-16s", "outbox");
    if (in->outbox_max == 0 && in->outbox_pending == 0)
        fputs("off (no bridge)\n", out);
    else
        fprintf(out, "%llu pending of %llu\n",
                (unsigned long long)in->outbox_pending,
                (unsigned long long)in->outbox_max);
    fprintf(out, "%-16s", "bridge lag");
    if (st->bridge_newest_ms == 0)
        fputs("nothing applied yet\n", out);
    else
        fprintf(out, "%llu ms (newest applied: %llu s ago)\n",
                (unsigned long long)st->bridge_lag_ms,
                (unsigned long long)(cur->wall_ms > st->bridge_newest_ms
                                         ? (cur->wall_ms -
                                            st->bridge_newest_ms) / 1000
                                         : 0));
}

static void print_instance(FILE *out, const struct stat_frame *cur)
{
    const shmc_info *in = &cur->info;
    char buf[64];

    fprintf(out, "%-16s%s\n", "instance", cur->path);
    fprintf(out, "%-16s%u\n", "layout version", in->layout_version);
    fprintf(out, "%-16s%s, pages of %u bytes\n", "map size",
            bytes_text(in->map_size, buf, sizeof buf), in->page_size);
    fprintf(out, "%-16s%s, %.1f%% of the map\n", "map used",
            bytes_text(in->map_used, buf, sizeof buf),
            stat_map_used_percent(cur));
    fprintf(out, "%-16s%s\n", "map touched",
            bytes_text(in->map_touched, buf, sizeof buf));
    fprintf(out, "%-16s%llu\n", "entries", (unsigned long long)in->entries);
    fprintf(out, "%-16s%u used of %u, %u dead\n", "readers",
            in->readers_used, in->max_readers, in->readers_dead);
    fprintf(out, "%-16s%u held of %u slots\n", "locks", in->locks_held,
            in->lock_slots);
    fprintf(out, "%-16s%u\n", "recency slots", in->recency_slots);
    print_ratios(out, cur);
    print_last_sweep(out, cur);
    print_bridge(out, cur);
}

/* The counter's rate between prev and cur; "-" when there is no earlier
 * frame or the counter went back (the instance was made anew). */
static void print_rate(FILE *out, const struct stat_frame *cur,
                       const struct stat_frame *prev,
                       const struct stat_field *f)
{
    uint64_t now = stat_value(cur, f);
    uint64_t before = prev ? stat_value(prev, f) : 0;
    if (!prev || now < before || cur->mono_ns <= prev->mono_ns) {
        fprintf(out, " %14s", "-");
        return;
    }
    double seconds = (double)(cur->mono_ns - prev->mono_ns) / 1e9;
    fprintf(out, " %14.1f", (double)(now - before) / seconds);
}

void stat_print_table(FILE *out, const struct stat_frame *cur,
                      const struct stat_frame *prev, int show_rates)
{
    print_instance(out, cur);
    fprintf(out, "\n%-26s %14s", "counter", "total");
    if (show_rates)
        fprintf(out, " %14s", "per second");
    fputc('\n', out);
    for (size_t i = 0; i < stat_field_count; i++) {
        const struct stat_field *f = &stat_fields[i];
        if (f->kind != STAT_COUNTER)
            continue;
        fprintf(out, "%-26s %14llu", f->name,
                (unsigned long long)stat_value(cur, f));
        if (show_rates)
            print_rate(out, cur, prev, f);
        fputc('\n', out);
    }
}
