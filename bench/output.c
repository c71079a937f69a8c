/* output.c - rows as a table or CSV, written cell by cell; the columns
 * every workload shares. */
#include <stdarg.h>
#include <stdio.h>

#include "harness.h"

static const double percentiles[] = {50.0, 99.0, 99.9};
static const char *const percentile_names[] = {"p50", "p99", "p999"};
/* Latency columns of the table: wide enough for "get_p999" and 10 ms in
 * ns; a longer label widens its column. */
#define LATENCY_WIDTH 8

void cell(struct line *l, int width, const char *fmt, ...)
{
    char text[64];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    if (l->csv)
        printf("%s%s", l->cells ? "," : "", text);
    else
        printf("%s%*s", l->cells ? " " : "", width, text);
    l->cells++;
}

void cell_none(struct line *l, int width)
{
    cell(l, width, "%s", l->csv ? "" : "-");
}

void head(struct line *l, int width, const char *label, const char *csv_name)
{
    cell(l, width, "%s", l->csv ? csv_name : label);
}

void end_line(void)
{
    printf("\n");
    fflush(stdout);
}

/* The label of an operation's percentile column ("get_p50"); the column's
 * width. */
static int percentile_label(char *out, size_t len, const char *op, size_t p)
{
    int n = snprintf(out, len, "%s_%s", op, percentile_names[p]);
    return n > LATENCY_WIDTH ? n : LATENCY_WIDTH;
}

void op_heads(struct line *l, const char *op, int count_in_table)
{
    char label[32], csv_name[40];
    if (l->csv || count_in_table) {
        snprintf(label, sizeof label, "%ss", op);
        cell(l, LATENCY_WIDTH, "%s", label);
    }
    for (size_t p = 0; p < ARRAY_LEN(percentiles); p++) {
        int width = percentile_label(label, sizeof label, op, p);
        snprintf(csv_name, sizeof csv_name, "%s_ns", label);
        head(l, width, label, csv_name);
    }
}

void op_cells(struct line *l, const char *op, const struct hist *h,
              int count_in_table)
{
    char label[32];
    if (l->csv || count_in_table)
        cell(l, LATENCY_WIDTH, "%llu", (unsigned long long)h->count);
    for (size_t p = 0; p < ARRAY_LEN(percentiles); p++) {
        int width = percentile_label(label, sizeof label, op, p);
        if (h->count)
            cell(l, width, "%llu",
                 (unsigned long long)hist_percentile(h, percentiles[p]));
        else
            cell_none(l, width);
    }
}

void first_heads(struct line *l)
{
    head(l, -11, "backend", "backend");
    head(l, 5, "procs", "procs");
}

void first_cells(struct line *l, const struct config *cfg,
                 const struct row *row)
{
    cell(l, -11, "%s", row->backend);
    cell(l, 5, "%u", cfg->procs);
}

double ops_per_s(const struct row *row)
{
    return row->seconds > 0 ? (double)row->ops / row->seconds : 0;
}

