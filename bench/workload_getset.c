/* workload_getset.c - the get/set/del mix over --keys keys stored first,
 * in the proportions --read-ratio and --del-ratio. */
#include <stdio.h>

#include "harness.h"
#include "keys.h"

enum { GS_GET, GS_SET, GS_DEL, GS_OPS };
static const char *const get_set_ops[GS_OPS] = {"get", "set", "del"};

static unsigned choose_op(const struct config *cfg, struct rng *rng)
{
    double u = rng_unit(rng);
    if (u < cfg->read_ratio)
        return GS_GET;
    return u < cfg->read_ratio + cfg->del_ratio ? GS_DEL : GS_SET;
}

/* One untimed get of a stored key. */
static void get_set_warm_up(struct worker *w)
{
    char key[KEY_BUF];
    size_t len;
    w->run->be->get(w->conn, key, format_key(key, 0), w->buf,
                    w->run->cfg->vsize + GET_SLACK, &len);
}

static uint64_t get_set_step(struct worker *w)
{
    const struct config *cfg = w->run->cfg;
    const struct bench_backend *be = w->run->be;
    const size_t cap = cfg->vsize + GET_SLACK;
    char key[KEY_BUF];
    uint32_t id = key_dist_next(w->run->keys, &w->rng);
    size_t klen = format_key(key, id);
    unsigned op = choose_op(cfg, &w->rng);
    size_t len = 0;
    int rc;
    if (op == GS_SET)
        stamp_value(w->val, cfg->vsize, id);

    uint64_t t0 = bench_now_ns();
    switch (op) {
    case GS_GET:
        rc = be->get(w->conn, key, klen, w->buf, cap, &len);
        break;
    case GS_SET:
        rc = be->set(w->conn, key, klen, w->val, cfg->vsize);
        break;
    default:
        rc = be->del(w->conn, key, klen);
        break;
    }
    uint64_t end = bench_now_ns();
    record_op(w, op, end - t0);

    if (rc == BENCH_MISS)
        w->res->misses++;
    else if (rc != BENCH_OK)
        note_error(w, get_set_ops[op], key, bench_error());
    else if (op == GS_GET && !value_ok(w->buf, len, cfg->vsize, id))
        note_wrong_value(w, get_set_ops[op], key, len);
    return end;
}

/* get-set: the table shows dels only when the mix has them. */
static unsigned get_set_shown_ops(const struct config *cfg)
{
    return cfg->csv || cfg->del_ratio > 0 ? GS_OPS : GS_DEL;
}

static void get_set_header(const struct config *cfg)
{
    struct line l = {cfg->csv, 0};
    first_heads(&l);
    head(&l, 6, "vsize", "vsize");
    head(&l, 4, "read", "read_ratio");
    if (l.csv)
        cell(&l, 0, "del_ratio");
    head(&l, -10, "dist", "dist");
    if (l.csv) {
        cell(&l, 0, "keys");
        cell(&l, 0, "seconds");
    }
    head(&l, 10, "ops/s", "ops_per_s");
    for (unsigned op = 0; op < get_set_shown_ops(cfg); op++)
        op_heads(&l, get_set_ops[op], 0);
    head(&l, 7, "misses", "misses");
    head(&l, 6, "errors", "errors");
    head(&l, 6, "B/key", "map_bytes_per_key");
    end_line();
}

static void get_set_row(const struct config *cfg, const struct row *row)
{
    struct line l = {cfg->csv, 0};
    char dist[32];
    dist_spec_format(&cfg->dist, dist, sizeof dist);
    first_cells(&l, cfg, row);
    cell(&l, 6, "%zu", cfg->vsize);
    cell(&l, 4, "%g", cfg->read_ratio);
    if (l.csv)
        cell(&l, 0, "%g", cfg->del_ratio);
    cell(&l, -10, "%s", dist);
    if (l.csv) {
        cell(&l, 0, "%u", cfg->keys);
        cell(&l, 0, "%.3f", row->seconds);
    }
    cell(&l, 10, "%.0f", ops_per_s(row));
    for (unsigned op = 0; op < get_set_shown_ops(cfg); op++)
        op_cells(&l, get_set_ops[op], &row->hist[op], 0);
    cell(&l, 7, "%llu", (unsigned long long)row->misses);
    cell(&l, 6, "%llu", (unsigned long long)row->errors);
    if (!row->have_mem)
        cell_none(&l, 6);
    else if (l.csv)
        cell(&l, 6, "%.1f", (double)row->mem_used / cfg->keys);
    else
        cell(&l, 6, "%.0f", (double)row->mem_used / cfg->keys);
    end_line();
}

_Static_assert(GS_OPS <= MAX_OPS, "get-set times more operations than a "
                                  "worker has histograms for");

const struct workload workload_get_set = {
    .name = "get-set",
    .op_count = GS_OPS,
    .options = OPTION_BIT(OPT_KEYS) | OPTION_BIT(OPT_VSIZE) |
               OPTION_BIT(OPT_READ_RATIO) | OPTION_BIT(OPT_DEL_RATIO) |
               OPTION_BIT(OPT_DIST) | OPTION_BIT(OPT_SEED),
    .default_duration = 1.0,
    .populates = 1,
    .warm_up = get_set_warm_up,
    .step = get_set_step,
    .print_header = get_set_header,
    .print_row = get_set_row,
};
