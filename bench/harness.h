/* harness.h - what the parts of shmcache-bench share besides the backend
 * interface (bench.h): the configuration, the memory the parent and the
 * workers share, the workload interface, and the functions of each part.
 *
 *   bench.c               main, the tables of backends and workloads
 *   options.c             the command line and the usage
 *   run.c                 the parent's side of a run: start, populate,
 *                         fork, barrier, merge
 *   worker.c              a worker process: connect, the timed loop
 *   output.c              rows as a table or CSV, cell by cell
 *   workload_*.c          one workload each
 */
#ifndef BENCH_HARNESS_H
#define BENCH_HARNESS_H

#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>

#include "bench.h"
#include "dist.h"
#include "hist.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* The most timed operations of one workload: a histogram each. */
#define MAX_OPS 4u

#define MAX_PROCS 1024u
/* A get's buffer is this much larger than the value, so that a value of
 * the wrong length is seen whole. */
#define GET_SLACK 64

/* The command line's options, as getopt_long returns them. */
enum {
    OPT_PROCS = 256,
    OPT_DURATION,
    OPT_KEYS,
    OPT_VSIZE,
    OPT_READ_RATIO,
    OPT_DEL_RATIO,
    OPT_DIST,
    OPT_BACKEND,
    OPT_SEED,
    OPT_L1_ENTRIES,
    OPT_WORKLOAD,
    OPT_COMPUTE_MS,
    OPT_TTL_MS,
    OPT_STALE_MS,
    OPT_CSV,
    OPT_NO_HEADER,
    OPT_HELP,
};
#define OPTION_BIT(opt) (1u << ((opt) - OPT_PROCS))

/* ---- the tables (bench.c) ----------------------------------------------- */

/* The number of entries of bench_backends[], checked where it is
 * defined: struct config keeps a list of at most that many. */
#define BENCH_BACKEND_COUNT 6u
extern const struct bench_backend *const bench_backends[];

struct workload;
/* The first is the default. */
#define WORKLOAD_COUNT 3u
extern const struct workload *const workloads[];

extern const struct workload workload_get_set;
extern const struct workload workload_lock;
extern const struct workload workload_stampede;

/* ---- the configuration (options.c) -------------------------------------- */

struct config {
    const struct workload *workload;
    unsigned procs;
    double duration;
    uint32_t keys;
    size_t vsize;
    double read_ratio;
    double del_ratio;
    struct dist_spec dist;
    uint64_t seed;
    unsigned l1_entries;
    uint64_t ttl_ms, stale_ms, compute_ms;
    int csv;
    int header;
    unsigned given; /* OPTION_BIT of each option on the command line */
    const struct bench_backend *backends[BENCH_BACKEND_COUNT];
    size_t backend_count;
};

void usage(FILE *out);
/* 0 to run, 2 for bad options, -1 for --help. */
int parse_options(int argc, char **argv, struct config *cfg);

/* ---- a run of one backend (run.c, worker.c) ----------------------------- */

/* What one worker leaves for the parent, in shared memory. */
struct worker_result {
    uint64_t t_start, t_end;
    uint64_t misses, errors;
    uint32_t key_id; /* the worker's own key (lock, stampede) */
    struct hist hist[MAX_OPS];
};

/* The stampede's account of one compute, for the parent to tell the
 * computes an expiry called for from those it did not. */
struct compute_record {
    uint64_t started_ms;     /* bench_wall_ms() as the compute began */
    uint64_t fresh_until_ms; /* of the value it stored; 0: none stored */
};

enum { GO_WAIT, GO_RUN, GO_ABORT };

/* The start barrier and the results, shared by the parent and workers. */
struct shared {
    atomic_uint ready; /* workers connected and waiting */
    atomic_int go;
    /* The stampede: computes begun (the next one's index), and when the
     * latest began (bench_now_ns, bench_wall_ms) and returned. */
    _Atomic uint64_t computes;
    _Atomic uint64_t compute_started_ns, compute_started_ms;
    _Atomic uint64_t compute_returned_ns;
    struct compute_record *records; /* record_cap, after results[] */
    uint64_t record_cap;
    struct worker_result results[];
};

/* One printed row: a run of one backend. */
struct row {
    const char *backend;
    double seconds;
    uint64_t ops;
    uint64_t misses, errors;
    int have_mem;
    uint64_t mem_used;
    uint64_t expiries, max_computes_per_expiry; /* the stampede */
    struct hist hist[MAX_OPS];
};

struct run {
    const struct config *cfg;
    const struct bench_backend *be;
    void *state;
    const struct key_dist *keys;
    struct shared *shared;
};

/* "key:" + up to 10 digits + NUL */
#define KEY_BUF 16

/* What one worker process has at hand while it runs. */
struct worker {
    const struct run *run;
    unsigned index;
    void *conn;
    struct worker_result *res;
    struct rng rng;
    unsigned char *val; /* vsize bytes: what a set stores, a compute gives */
    unsigned char *buf; /* vsize + GET_SLACK bytes: what a read copies to */
    char key[KEY_BUF];  /* the worker's own key (lock, stampede) */
    size_t klen;
    int computed;     /* the stampede: this call ran the compute, */
    uint64_t compute; /* this one */
};

/* Run one backend. BENCH_OK with *row filled, BENCH_SKIP, or BENCH_ERR
 * with the reason printed. */
int run_backend(const struct config *cfg, const struct bench_backend *be,
                const struct key_dist *keys, struct row *row);

/* The body of a forked worker; its exit status. */
int worker_main(const struct run *run, unsigned index);

void note_error(struct worker *w, const char *op, const char *key,
                const char *why);
void note_wrong_value(struct worker *w, const char *op, const char *key,
                      size_t len);

/* Inline: the workloads' timed paths were written with it in reach. */
static inline void record_op(struct worker *w, unsigned op, uint64_t ns)
{
    hist_record(&w->res->hist[op], ns);
}

static inline void sleep_ns(uint64_t ns)
{
    struct timespec ts = {(time_t)(ns / 1000000000u),
                          (long)(ns % 1000000000u)};
    nanosleep(&ts, NULL);
}

/* ---- workloads ---------------------------------------------------------- */

/* A workload: what the workers do, and what its rows show. The fork, the
 * barrier, the timed loop and the merge are the same for all. */
struct workload {
    const char *name;
    /* Timed operations: a latency histogram each, at most MAX_OPS. */
    unsigned op_count;
    /* OPTION_BIT of the options it takes beyond the common ones. */
    unsigned options;
    double default_duration;
    /* Store --keys keys from the parent before forking. */
    int populates;
    /* Keep a record of each compute (struct compute_record). */
    int records_computes;
    /* Why be cannot run it, or NULL when it can. */
    const char *(*unsupported)(const struct bench_backend *be);
    /* Optional: in the parent, through a connection, before forking. */
    int (*prepare)(const struct run *run, void *conn);
    /* In each worker once connected, untimed: the connection's lazy setup
     * (a reader slot, first page faults) is not the first timed op's. */
    void (*warm_up)(struct worker *w);
    /* One operation, timed and recorded; returns bench_now_ns() at its
     * end. */
    uint64_t (*step)(struct worker *w);
    /* Optional: in the parent after the run, its own figures into row. */
    void (*summarize)(const struct run *run, struct row *row);
    void (*print_header)(const struct config *cfg);
    void (*print_row)(const struct config *cfg, const struct row *row);
};

/* ---- output (output.c) -------------------------------------------------- */

/* One line of output, a table row or a CSV record, written cell by cell:
 * a workload lists its columns once for both forms. */
struct line {
    int csv;
    unsigned cells;
};

/* A cell: in the table, width wide (negative: left-aligned). */
void cell(struct line *l, int width, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* No value: empty in CSV, "-" in the table. */
void cell_none(struct line *l, int width);
/* A header cell: the table's label, or the CSV's name. */
void head(struct line *l, int width, const char *label,
          const char *csv_name);
void end_line(void);
/* An operation's columns: its count (<op>s: always in CSV, in the table
 * if count_in_table) and its percentiles (<op>_p50, ...; <op>_p50_ns in
 * CSV). */
void op_heads(struct line *l, const char *op, int count_in_table);
void op_cells(struct line *l, const char *op, const struct hist *h,
              int count_in_table);
/* The columns every workload starts with. */
void first_heads(struct line *l);
void first_cells(struct line *l, const struct config *cfg,
                 const struct row *row);
double ops_per_s(const struct row *row);

#endif
