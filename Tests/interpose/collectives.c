/*
 * collectives.c — checks that the MPI_* collectives give exactly (bit for bit)
 * the results of the PMPI_* ones.
 *
 * With libweft-mpi.so preloaded, MPI_Allreduce & co. run Weft's own algorithms
 * while PMPI_* is always native Open MPI, so every case runs the collective
 * twice — once through MPI_ (maybe intercepted), once through PMPI_ (native) —
 * on fresh buffers filled by the same generator, and memcmp's the results.
 * Without the library MPI_ == PMPI_ and everything passes trivially.
 *
 * Inputs are small integers (products of {1, 2, -1}), so every result is exact
 * in every type, whatever order an algorithm reduces in: floats compare bitwise.
 *
 *   mpicc -O2 -std=c11 -Wall -o collectives Tests/interpose/collectives.c
 *   mpirun --allow-run-as-root --oversubscribe -np 4 ./collectives
 *   mpirun ... ./collectives --comm-churn 10000   # dup/free leak check
 *   mpirun ... ./collectives --report-calls       # a fixed, known set of calls
 *   mpirun ... ./collectives --raise 11           # a crash must end the process (exit by signal)
 *   mpirun ... -x LD_PRELOAD=/path/libweft-mpi.so ./collectives
 *
 * COLLECTIVES_THREAD_MULTIPLE=1 asks for MPI_THREAD_MULTIPLE and adds a
 * two-thread test; COLLECTIVES_VERBOSE=1 prints per-phase times on rank 0.
 * Ends with one line "N passed, N failed" (summed over ranks); exit 0 iff none failed.
 */
#define _POSIX_C_SOURCE 200809L
#include <mpi.h>
#include <pthread.h>
#include <stdint.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

enum {
    MAX_FAIL_LINES = 20,      /* per rank */
    GUARD = 64,               /* sentinel bytes after every receive buffer: catches overruns */
    SENTINEL = 0xA5,
    MID_COUNT = 100003,       /* prime: never divisible by the rank count */
    LARGE_COUNT = 17 << 20,   /* 17 Mi floats = 68 MiB, above the 64 MiB mark */
};

/* ---------- results ---------- */

static int g_rank, g_size;    /* in MPI_COMM_WORLD; the rank also seeds the data */
static long g_passed, g_failed;
static int g_fail_lines;
static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;   /* the thread test records concurrently */

/* One test case as it appears in a FAIL line. */
typedef struct {
    char fn[48];
    const char *comm, *dtype, *op, *mode;
    long count;
} Case;

static void record(const Case *c, int ok, const char *why)
{
    pthread_mutex_lock(&g_lock);
    if (ok) {
        g_passed++;
    } else {
        g_failed++;
        if (g_fail_lines < MAX_FAIL_LINES)
            printf("FAIL: %s %s %s %s count=%ld %s rank=%d: %s\n",
                   c->fn, c->comm, c->dtype, c->op, c->count, c->mode, g_rank, why);
        else if (g_fail_lines == MAX_FAIL_LINES)
            printf("rank %d: further FAIL lines suppressed\n", g_rank);
        g_fail_lines++;
        fflush(stdout);
    }
    pthread_mutex_unlock(&g_lock);
}

/* Index of the first differing element, or -1 when equal. */
static long first_diff(const void *a, const void *b, size_t bytes, size_t elem)
{
    if (bytes == 0 || memcmp(a, b, bytes) == 0)
        return -1;
    const unsigned char *x = a, *y = b;
    size_t i = 0;
    while (x[i] == y[i])
        i++;
    return (long)(i / (elem ? elem : 1));
}

/* rc[0] from MPI_, rc[1] from PMPI_; both must succeed and the buffers agree. */
static void check(const Case *c, const int rc[2], const void *a, const void *b, size_t bytes, size_t elem)
{
    char why[96] = "";
    int ok = rc[0] == MPI_SUCCESS && rc[1] == MPI_SUCCESS;
    if (!ok) {
        snprintf(why, sizeof why, "MPI_ returned %d, PMPI_ returned %d", rc[0], rc[1]);
    } else {
        long d = first_diff(a, b, bytes, elem);
        ok = d < 0;
        if (!ok)
            snprintf(why, sizeof why, "first difference at element %ld", d);
    }
    record(c, ok, why);
}

static void *xmalloc(size_t bytes)
{
    void *p = malloc(bytes ? bytes : 1);
    if (!p) {
        fprintf(stderr, "rank %d: out of memory (%zu bytes)\n", g_rank, bytes);
        MPI_Abort(MPI_COMM_WORLD, 2);
    }
    return p;
}

static unsigned char *sentinel_alloc(size_t bytes)
{
    unsigned char *p = xmalloc(bytes);
    memset(p, SENTINEL, bytes);
    return p;
}

static double now(void) { return PMPI_Wtime(); }

static int verbose(void) { const char *v = getenv("COLLECTIVES_VERBOSE"); return v && *v && *v != '0'; }

/* ---------- datatypes ---------- */

typedef enum { K_FLOAT, K_DOUBLE, K_INT, K_LONG, K_I32, K_I64, K_UNS, K_ULONG,
               K_CHAR, K_BYTE, K_2INT, K_FLOAT_INT } Kind;

typedef struct { int v, i; } IntPair;        /* layout of MPI_2INT */
typedef struct { float v; int i; } FloatInt; /* layout of MPI_FLOAT_INT */

enum { R_NONE, R_ARITH, R_LOC };             /* which reductions a type takes */

typedef struct {
    const char *name;
    MPI_Datatype type;
    Kind base;           /* buffers are filled as arrays of this */
    int base_per_elem;   /* base elements per extent of `type` (gaps included) */
    size_t extent;       /* bytes per element of `type` in a buffer */
    int reduce;
} DType;

static DType g_types[16];
static int g_ntypes;
static MPI_Datatype g_contig3, g_vector;

static size_t base_size(Kind k)
{
    switch (k) {
    case K_FLOAT: return sizeof(float);
    case K_DOUBLE: return sizeof(double);
    case K_INT: return sizeof(int);
    case K_LONG: return sizeof(long);
    case K_I32: return sizeof(int32_t);
    case K_I64: return sizeof(int64_t);
    case K_UNS: return sizeof(unsigned);
    case K_ULONG: return sizeof(unsigned long);
    case K_CHAR: case K_BYTE: return 1;
    case K_2INT: return sizeof(IntPair);
    case K_FLOAT_INT: return sizeof(FloatInt);
    }
    return 0;
}

static void add_type(const char *name, MPI_Datatype t, Kind base, int per, int reduce)
{
    MPI_Aint lb, ext;
    MPI_Type_get_extent(t, &lb, &ext);
    if (lb != 0 || (size_t)ext != per * base_size(base)) {
        fprintf(stderr, "%s: extent %ld does not match its C layout\n", name, (long)ext);
        MPI_Abort(MPI_COMM_WORLD, 2);
    }
    g_types[g_ntypes++] = (DType){ name, t, base, per, (size_t)ext, reduce };
}

static void init_types(void)
{
    add_type("MPI_FLOAT", MPI_FLOAT, K_FLOAT, 1, R_ARITH);
    add_type("MPI_DOUBLE", MPI_DOUBLE, K_DOUBLE, 1, R_ARITH);
    add_type("MPI_INT", MPI_INT, K_INT, 1, R_ARITH);
    add_type("MPI_LONG", MPI_LONG, K_LONG, 1, R_ARITH);
    add_type("MPI_INT32_T", MPI_INT32_T, K_I32, 1, R_ARITH);
    add_type("MPI_INT64_T", MPI_INT64_T, K_I64, 1, R_ARITH);
    add_type("MPI_UNSIGNED", MPI_UNSIGNED, K_UNS, 1, R_ARITH);
    add_type("MPI_UNSIGNED_LONG", MPI_UNSIGNED_LONG, K_ULONG, 1, R_ARITH);
    add_type("MPI_2INT", MPI_2INT, K_2INT, 1, R_LOC);
    add_type("MPI_FLOAT_INT", MPI_FLOAT_INT, K_FLOAT_INT, 1, R_LOC);
    add_type("MPI_CHAR", MPI_CHAR, K_CHAR, 1, R_NONE);
    add_type("MPI_BYTE", MPI_BYTE, K_BYTE, 1, R_NONE);

    /* Contiguous derived type: the library may move it as bytes. */
    MPI_Type_contiguous(3, MPI_INT, &g_contig3);
    MPI_Type_commit(&g_contig3);
    add_type("contig(3xMPI_INT)", g_contig3, K_INT, 3, R_NONE);

    /* Non-contiguous: ints 0,1,3,4 of every 6 (gaps at 2 and 5 must stay
       untouched in receive buffers); the library forwards it. */
    MPI_Datatype v;
    MPI_Type_vector(2, 2, 3, MPI_INT, &v);
    MPI_Type_create_resized(v, 0, 6 * (MPI_Aint)sizeof(int), &g_vector);
    MPI_Type_free(&v);
    MPI_Type_commit(&g_vector);
    add_type("vector(2x2/3,MPI_INT)", g_vector, K_INT, 6, R_NONE);
}

static const DType *type_named(const char *name)
{
    for (int i = 0; i < g_ntypes; i++)
        if (strcmp(g_types[i].name, name) == 0)
            return &g_types[i];
    return NULL;
}

/* Small integers that keep every reduction exact: [-5, 5] (unsigned [0, 10]),
   for products {1, 2, -1} ({1, 2}) with 2 only on the first 16 ranks, so a
   product is at most 2^16 in magnitude. */
static long gen_value(int seed, size_t i, int salt, int prod, int is_unsigned)
{
    uint64_t h = (uint64_t)seed * 7u + (uint64_t)i * 3u + (uint64_t)salt;
    if (prod) {
        int m = (int)(h % 7);
        if (m == 0 && seed < 16) return 2;
        if (!is_unsigned && (m == 1 || m == 4)) return -1;
        return 1;
    }
    long s = (long)(h % 11);
    return is_unsigned ? s : s - 5;
}

/* Fill `count` elements of d (gaps included) for rank `seed`. */
static void fill(void *buf, const DType *d, size_t count, int seed, int salt, int prod)
{
    size_t n = count * (size_t)d->base_per_elem;
    int uns = d->base == K_UNS || d->base == K_ULONG || d->base == K_BYTE;
#define FILL_AS(T) for (size_t i = 0; i < n; i++) ((T *)buf)[i] = (T)gen_value(seed, i, salt, prod, uns); break
    switch (d->base) {
    case K_FLOAT: FILL_AS(float);
    case K_DOUBLE: FILL_AS(double);
    case K_INT: FILL_AS(int);
    case K_LONG: FILL_AS(long);
    case K_I32: FILL_AS(int32_t);
    case K_I64: FILL_AS(int64_t);
    case K_UNS: FILL_AS(unsigned);
    case K_ULONG: FILL_AS(unsigned long);
    case K_CHAR: FILL_AS(char);
    case K_BYTE: FILL_AS(unsigned char);
    case K_2INT:
        for (size_t i = 0; i < n; i++)
            ((IntPair *)buf)[i] = (IntPair){ (int)gen_value(seed, i, salt, 0, 0), seed };
        break;
    case K_FLOAT_INT:
        for (size_t i = 0; i < n; i++)
            ((FloatInt *)buf)[i] = (FloatInt){ (float)gen_value(seed, i, salt, 0, 0), seed };
        break;
    }
#undef FILL_AS
}

/* ---------- ops ---------- */

typedef enum { OP_SUM, OP_PROD, OP_MAX, OP_MIN, OP_USER, OP_MAXLOC, OP_MINLOC } OpKind;
typedef struct { const char *name; MPI_Op op; OpKind kind; } OpInfo;

static OpInfo g_ops[7];
static const int g_nops = 7;

/* User op f(a, b) = a + b + 1: commutative and associative, and unlike any
   built-in op (p ranks give sum + p - 1), so a library that mistook it for
   MPI_SUM would be caught. */
static void user_op_fn(void *in, void *inout, int *len, MPI_Datatype *dt)
{
    const DType *d = NULL;
    for (int i = 0; i < g_ntypes && !d; i++)
        if (g_types[i].type == *dt && g_types[i].reduce == R_ARITH)
            d = &g_types[i];
    if (!d) {
        fprintf(stderr, "user op called with an unexpected datatype\n");
        MPI_Abort(MPI_COMM_WORLD, 2);
        return;
    }
#define USER_AS(T) { const T *a = in; T *b = inout; for (int i = 0; i < *len; i++) b[i] = (T)(a[i] + b[i] + 1); } break
    switch (d->base) {
    case K_FLOAT: USER_AS(float);
    case K_DOUBLE: USER_AS(double);
    case K_INT: USER_AS(int);
    case K_LONG: USER_AS(long);
    case K_I32: USER_AS(int32_t);
    case K_I64: USER_AS(int64_t);
    case K_UNS: USER_AS(unsigned);
    case K_ULONG: USER_AS(unsigned long);
    default: break;
    }
#undef USER_AS
}

static void init_ops(void)
{
    MPI_Op user;
    MPI_Op_create(user_op_fn, 1, &user);
    g_ops[0] = (OpInfo){ "MPI_SUM", MPI_SUM, OP_SUM };
    g_ops[1] = (OpInfo){ "MPI_PROD", MPI_PROD, OP_PROD };
    g_ops[2] = (OpInfo){ "MPI_MAX", MPI_MAX, OP_MAX };
    g_ops[3] = (OpInfo){ "MPI_MIN", MPI_MIN, OP_MIN };
    g_ops[4] = (OpInfo){ "user(a+b+1)", user, OP_USER };
    g_ops[5] = (OpInfo){ "MPI_MAXLOC", MPI_MAXLOC, OP_MAXLOC };
    g_ops[6] = (OpInfo){ "MPI_MINLOC", MPI_MINLOC, OP_MINLOC };
}

static int op_applies(const OpInfo *op, const DType *d)
{
    if (d->reduce == R_LOC) return op->kind == OP_MAXLOC || op->kind == OP_MINLOC;
    if (d->reduce == R_ARITH) return op->kind <= OP_USER;
    return 0;
}

/* MPI's send buffers are input only: after the intercepted call each must still hold
   what fill() put there. Returns the first element that changed, or -1. */
static long send_changed(const unsigned char *send, const DType *d, size_t count, int salt, int prod)
{
    unsigned char *expected = xmalloc(count * d->extent);
    fill(expected, d, count, g_rank, salt, prod);
    long at = first_diff(send, expected, count * d->extent, d->extent);
    free(expected);
    return at;
}

static void check_send_kept(const Case *c, long changed)
{
    char why[96] = "";
    if (changed >= 0) snprintf(why, sizeof why, "the send buffer changed at element %ld", changed);
    Case kept = *c;
    kept.mode = "send buffer kept";
    record(&kept, changed < 0, why);
}

/* ---------- communicators ---------- */

typedef struct {
    const char *name;
    MPI_Comm comm;
    int inter;   /* intercommunicator? */
    int group;   /* for an intercomm: 0 = even world ranks, 1 = odd */
    int owned;   /* freed at the end */
} CommInfo;

static int comm_rank(MPI_Comm c) { int r; MPI_Comm_rank(c, &r); return r; }
static int comm_size(MPI_Comm c) { int s; MPI_Comm_size(c, &s); return s; }

static Case mkcase(const char *fn, const CommInfo *ci, const DType *d, const char *op, long n, const char *mode)
{
    Case c = { .comm = ci->name, .dtype = d ? d->name : "-", .op = op, .mode = mode, .count = n };
    snprintf(c.fn, sizeof c.fn, "%s", fn);
    return c;
}

static const char *mode_name(int inplace) { return inplace ? "inplace" : "separate"; }

/* ---------- the cases: v = 0 runs MPI_ (maybe intercepted), v = 1 PMPI_ (native) ---------- */

static void t_allreduce(const CommInfo *ci, const DType *d, const OpInfo *op, int n, int inplace)
{
    size_t bytes = (size_t)n * d->extent;
    int prod = op->kind == OP_PROD, rc[2];
    long changed = -1;
    unsigned char *out[2];
    for (int v = 0; v < 2; v++) {
        unsigned char *send = NULL;
        out[v] = sentinel_alloc(bytes + GUARD);
        if (inplace) fill(out[v], d, n, g_rank, 0, prod);
        else fill(send = xmalloc(bytes), d, n, g_rank, 0, prod);
        const void *sb = inplace ? MPI_IN_PLACE : send;
        rc[v] = v == 0 ? MPI_Allreduce(sb, out[v], n, d->type, op->op, ci->comm)
                       : PMPI_Allreduce(sb, out[v], n, d->type, op->op, ci->comm);
        if (v == 0 && send) changed = send_changed(send, d, n, 0, prod);
        free(send);
    }
    Case c = mkcase("MPI_Allreduce", ci, d, op->name, n, mode_name(inplace));
    check(&c, rc, out[0], out[1], bytes + GUARD, d->extent);
    if (!inplace) check_send_kept(&c, changed);
    free(out[0]);
    free(out[1]);
}

/* In place only the root passes MPI_IN_PLACE; the other ranks then pass a NULL
   receive buffer, which is insignificant there (and common in applications). */
static void t_reduce(const CommInfo *ci, const DType *d, const OpInfo *op, int n, int root, int inplace)
{
    size_t bytes = (size_t)n * d->extent;
    int is_root = comm_rank(ci->comm) == root, prod = op->kind == OP_PROD, rc[2];
    long changed = -1;
    unsigned char *out[2];
    for (int v = 0; v < 2; v++) {
        unsigned char *send = NULL;
        out[v] = is_root || !inplace ? sentinel_alloc(bytes + GUARD) : NULL;
        if (inplace && is_root) fill(out[v], d, n, g_rank, 0, prod);
        else fill(send = xmalloc(bytes), d, n, g_rank, 0, prod);
        const void *sb = inplace && is_root ? MPI_IN_PLACE : send;
        rc[v] = v == 0 ? MPI_Reduce(sb, out[v], n, d->type, op->op, root, ci->comm)
                       : PMPI_Reduce(sb, out[v], n, d->type, op->op, root, ci->comm);
        if (v == 0 && send) changed = send_changed(send, d, n, 0, prod);
        free(send);
    }
    char fn[48];
    snprintf(fn, sizeof fn, "MPI_Reduce(root=%d)", root);
    Case c = mkcase(fn, ci, d, op->name, n, mode_name(inplace));
    /* Non-root receive buffers are insignificant: only the return codes count there. */
    check(&c, rc, out[0], out[1], is_root ? bytes + GUARD : 0, d->extent);
    if (!inplace || !is_root) check_send_kept(&c, changed);
    free(out[0]);
    free(out[1]);
}

/* Intracomm: root is a rank. Intercomm: the root's own group passes MPI_ROOT
   (the root) or MPI_PROC_NULL (the others, whose buffer must stay untouched),
   the other group passes the root's rank in the root group. */
static void t_bcast(const CommInfo *ci, const DType *d, int n, int root_group, int root)
{
    size_t bytes = (size_t)n * d->extent;
    int rank = comm_rank(ci->comm), arg = root, sends = rank == root, rc[2];
    if (ci->inter && ci->group == root_group) {
        arg = rank == root ? MPI_ROOT : MPI_PROC_NULL;
    } else if (ci->inter) {
        sends = 0;
    }
    unsigned char *out[2];
    for (int v = 0; v < 2; v++) {
        out[v] = sentinel_alloc(bytes + GUARD);
        if (sends) fill(out[v], d, n, g_rank, 1, 0);
        rc[v] = v == 0 ? MPI_Bcast(out[v], n, d->type, arg, ci->comm)
                       : PMPI_Bcast(out[v], n, d->type, arg, ci->comm);
    }
    char fn[48];
    if (ci->inter) snprintf(fn, sizeof fn, "MPI_Bcast(group%d,root=%d)", root_group, root);
    else snprintf(fn, sizeof fn, "MPI_Bcast(root=%d)", root);
    Case c = mkcase(fn, ci, d, "-", n, "n/a");
    check(&c, rc, out[0], out[1], bytes + GUARD, d->extent);
    free(out[0]);
    free(out[1]);
}

/* In place, the send count and type are ignored by the standard, so they are
   passed as 0 / MPI_DATATYPE_NULL: a library must not use them. */
static void t_allgather(const CommInfo *ci, const DType *d, int n, int inplace)
{
    int p = comm_size(ci->comm), rank = comm_rank(ci->comm), rc[2];
    size_t blk = (size_t)n * d->extent, bytes = blk * p;
    long changed = -1;
    unsigned char *out[2];
    for (int v = 0; v < 2; v++) {
        unsigned char *send = NULL;
        out[v] = sentinel_alloc(bytes + GUARD);
        if (inplace) fill(out[v] + rank * blk, d, n, g_rank, 2, 0);
        else fill(send = xmalloc(blk), d, n, g_rank, 2, 0);
        const void *sb = inplace ? MPI_IN_PLACE : send;
        int sc = inplace ? 0 : n;
        MPI_Datatype st = inplace ? MPI_DATATYPE_NULL : d->type;
        rc[v] = v == 0 ? MPI_Allgather(sb, sc, st, out[v], n, d->type, ci->comm)
                       : PMPI_Allgather(sb, sc, st, out[v], n, d->type, ci->comm);
        if (v == 0 && send) changed = send_changed(send, d, n, 2, 0);
        free(send);
    }
    Case c = mkcase("MPI_Allgather", ci, d, "-", n, mode_name(inplace));
    check(&c, rc, out[0], out[1], bytes + GUARD, d->extent);
    if (!inplace) check_send_kept(&c, changed);
    free(out[0]);
    free(out[1]);
}

static void t_alltoall(const CommInfo *ci, const DType *d, int n, int inplace)
{
    int p = comm_size(ci->comm), rc[2];
    size_t bytes = (size_t)n * p * d->extent;
    long changed = -1;
    unsigned char *out[2];
    for (int v = 0; v < 2; v++) {
        unsigned char *send = NULL;
        out[v] = sentinel_alloc(bytes + GUARD);
        if (inplace) fill(out[v], d, (size_t)n * p, g_rank, 3, 0);
        else fill(send = xmalloc(bytes), d, (size_t)n * p, g_rank, 3, 0);
        const void *sb = inplace ? MPI_IN_PLACE : send;
        int sc = inplace ? 0 : n;
        MPI_Datatype st = inplace ? MPI_DATATYPE_NULL : d->type;
        rc[v] = v == 0 ? MPI_Alltoall(sb, sc, st, out[v], n, d->type, ci->comm)
                       : PMPI_Alltoall(sb, sc, st, out[v], n, d->type, ci->comm);
        if (v == 0 && send) changed = send_changed(send, d, (size_t)n * p, 3, 0);
        free(send);
    }
    Case c = mkcase("MPI_Alltoall", ci, d, "-", n, mode_name(inplace));
    check(&c, rc, out[0], out[1], bytes + GUARD, d->extent);
    if (!inplace) check_send_kept(&c, changed);
    free(out[0]);
    free(out[1]);
}

/* Buffers of a reduce-scatter: in place, the whole input sits in the receive buffer;
   otherwise a filled send buffer of `total` elements and a sentinel receive buffer of
   `mine` bytes. Returns the send buffer (NULL in place). */
static unsigned char *scatter_buffers(const DType *d, size_t total, size_t mine, int inplace, int tag, int prod,
                                      unsigned char **out)
{
    unsigned char *send = NULL;
    if (inplace) {
        *out = sentinel_alloc(total * d->extent + GUARD);
        fill(*out, d, total, g_rank, tag, prod);
    } else {
        *out = sentinel_alloc(mine + GUARD);
        fill(send = xmalloc(total * d->extent), d, total, g_rank, tag, prod);
    }
    return send;
}

/* In place the input is the whole receive buffer and only the first recvcount
   elements are defined afterwards, so only they are compared. */
static void t_reduce_scatter_block(const CommInfo *ci, const DType *d, const OpInfo *op, int n, int inplace)
{
    int p = comm_size(ci->comm), prod = op->kind == OP_PROD, rc[2];
    size_t total = (size_t)n * p, mine = (size_t)n * d->extent;
    long changed = -1;
    unsigned char *out[2];
    for (int v = 0; v < 2; v++) {
        unsigned char *send = scatter_buffers(d, total, mine, inplace, 4, prod, &out[v]);
        const void *sb = inplace ? MPI_IN_PLACE : send;
        rc[v] = v == 0 ? MPI_Reduce_scatter_block(sb, out[v], n, d->type, op->op, ci->comm)
                       : PMPI_Reduce_scatter_block(sb, out[v], n, d->type, op->op, ci->comm);
        if (v == 0 && send) changed = send_changed(send, d, total, 4, prod);
        free(send);
    }
    Case c = mkcase("MPI_Reduce_scatter_block", ci, d, op->name, n, mode_name(inplace));
    check(&c, rc, out[0], out[1], inplace ? mine : mine + GUARD, d->extent);
    if (!inplace) check_send_kept(&c, changed);
    free(out[0]);
    free(out[1]);
}

/* recvcounts variants: equal (n each), unequal (rank r gets n + r + 1),
   sparse (odd ranks get n, even ranks nothing). */
enum { RS_EQUAL, RS_UNEQUAL, RS_SPARSE, RS_VARIANTS };
static const char *rs_names[RS_VARIANTS] = { "equal", "unequal", "sparse" };

static void t_reduce_scatter(const CommInfo *ci, const DType *d, const OpInfo *op, int n, int variant, int inplace)
{
    int p = comm_size(ci->comm), rank = comm_rank(ci->comm), prod = op->kind == OP_PROD, rc[2];
    int *counts = xmalloc(sizeof(int) * p);
    size_t total = 0;
    for (int i = 0; i < p; i++) {
        counts[i] = variant == RS_EQUAL ? n : variant == RS_UNEQUAL ? n + i + 1 : (i % 2 ? n : 0);
        total += (size_t)counts[i];
    }
    size_t mine = (size_t)counts[rank] * d->extent;
    long changed = -1;
    unsigned char *out[2];
    for (int v = 0; v < 2; v++) {
        unsigned char *send = scatter_buffers(d, total, mine, inplace, 5, prod, &out[v]);
        const void *sb = inplace ? MPI_IN_PLACE : send;
        rc[v] = v == 0 ? MPI_Reduce_scatter(sb, out[v], counts, d->type, op->op, ci->comm)
                       : PMPI_Reduce_scatter(sb, out[v], counts, d->type, op->op, ci->comm);
        if (v == 0 && send) changed = send_changed(send, d, total, 5, prod);
        free(send);
    }
    char fn[48];
    snprintf(fn, sizeof fn, "MPI_Reduce_scatter(%s)", rs_names[variant]);
    Case c = mkcase(fn, ci, d, op->name, n, mode_name(inplace));
    check(&c, rc, out[0], out[1], inplace ? mine : mine + GUARD, d->extent);
    if (!inplace) check_send_kept(&c, changed);
    free(counts);
    free(out[0]);
    free(out[1]);
}

static void t_barrier(const CommInfo *ci)
{
    int rc[2] = { MPI_Barrier(ci->comm), PMPI_Barrier(ci->comm) };
    Case c = mkcase("MPI_Barrier", ci, NULL, "-", 0, "n/a");
    check(&c, rc, NULL, NULL, 0, 1);
}

/* A barrier must actually wait: rank 0 enters 300 ms late, so everyone else
   must spend well over 100 ms in MPI_Barrier (a no-op barrier would not). */
static void t_barrier_waits(const CommInfo *ci)
{
    int rank = comm_rank(ci->comm);
    if (comm_size(ci->comm) < 2) return;
    PMPI_Barrier(ci->comm);
    double t0 = now();
    if (rank == 0) nanosleep(&(struct timespec){ 0, 300 * 1000 * 1000 }, NULL);
    int rc = MPI_Barrier(ci->comm);
    double waited = now() - t0;
    Case c = mkcase("MPI_Barrier(waits)", ci, NULL, "-", 0, "n/a");
    char why[96];
    snprintf(why, sizeof why, "rc %d, left after %.3f s while rank 0 entered after 0.3 s", rc, waited);
    record(&c, rc == MPI_SUCCESS && (rank == 0 || waited > 0.1), why);
}

/* ---------- the suites ---------- */

/* Counts 0, 1, 7, one not divisible by the size, and a mid size. For the block
   collectives the count is per rank, so there the mid size is split over the
   ranks (still not divisible) to keep the total near MID_COUNT. */
static int counts_for(int p, int per_rank, int out[5])
{
    out[0] = 0;
    out[1] = 1;
    out[2] = 7;
    out[3] = 3 * p + 1;
    out[4] = per_rank ? MID_COUNT / p + 1 : MID_COUNT;
    return 5;
}

static void suite_intracomm(const CommInfo *ci)
{
    int p = comm_size(ci->comm), whole[5], block[5];
    int nc = counts_for(p, 0, whole);
    counts_for(p, 1, block);
    int roots[2] = { 0, p - 1 }, nroots = p > 1 ? 2 : 1;

    for (int t = 0; t < g_ntypes; t++) {
        const DType *d = &g_types[t];
        for (int o = 0; o < g_nops; o++) {
            const OpInfo *op = &g_ops[o];
            if (!op_applies(op, d)) continue;
            for (int k = 0; k < nc; k++)
                for (int inplace = 0; inplace < 2; inplace++) {
                    t_allreduce(ci, d, op, whole[k], inplace);
                    for (int r = 0; r < nroots; r++)
                        t_reduce(ci, d, op, whole[k], roots[r], inplace);
                    t_reduce_scatter_block(ci, d, op, block[k], inplace);
                    for (int var = 0; var < RS_VARIANTS; var++)
                        t_reduce_scatter(ci, d, op, block[k], var, inplace);
                }
        }
    }
    /* Byte movers take every type, derived ones included. */
    for (int t = 0; t < g_ntypes; t++) {
        const DType *d = &g_types[t];
        for (int k = 0; k < nc; k++) {
            for (int r = 0; r < nroots; r++)
                t_bcast(ci, d, whole[k], 0, roots[r]);
            for (int inplace = 0; inplace < 2; inplace++) {
                t_allgather(ci, d, block[k], inplace);
                t_alltoall(ci, d, block[k], inplace);
            }
        }
    }
    t_barrier(ci);
}

/* Intercomm: allreduce (separate buffers only: MPI_IN_PLACE is not allowed),
   bcast from either group with MPI_ROOT / MPI_PROC_NULL, barrier. */
static void suite_intercomm(const CommInfo *ci)
{
    int lsize = comm_size(ci->comm), rsize, counts[5];
    MPI_Comm_remote_size(ci->comm, &rsize);
    int nc = counts_for(lsize + rsize, 0, counts);
    for (int t = 0; t < g_ntypes; t++) {
        const DType *d = &g_types[t];
        for (int o = 0; o < g_nops; o++)
            if (op_applies(&g_ops[o], d))
                for (int k = 0; k < nc; k++)
                    t_allreduce(ci, d, &g_ops[o], counts[k], 0);
        for (int k = 0; k < nc; k++)
            for (int g = 0; g < 2; g++) {
                int gsize = g == ci->group ? lsize : rsize;
                t_bcast(ci, d, counts[k], g, 0);
                if (gsize > 1) t_bcast(ci, d, counts[k], g, gsize - 1);
            }
    }
    t_barrier(ci);
}

/* A few > 64 MiB cases on MPI_COMM_WORLD, where a library switches algorithms. */
static void suite_large(const CommInfo *world)
{
    const DType *f = type_named("MPI_FLOAT");
    t_allreduce(world, f, &g_ops[OP_SUM], LARGE_COUNT, 0);
    t_allreduce(world, f, &g_ops[OP_SUM], LARGE_COUNT, 1);
    t_bcast(world, f, LARGE_COUNT, 0, g_size - 1);
}

/* MPI matches byte-moving collectives by type signature, so ranks may describe the same
   data with different datatypes: here odd ranks receive into a strided vector (gaps must
   stay untouched) and send one contiguous(n) item, even ranks use n MPI_INT. The library
   must take the same path on every rank (no hang) and move the same bytes as Open MPI. */
static void suite_signatures(const CommInfo *ci)
{
    int p = comm_size(ci->comm), rank = comm_rank(ci->comm), odd = rank % 2;
    const DType *d = type_named("MPI_INT");
    int sizes[4] = { 1, 7, 1000, 40000 };
    for (int k = 0; k < 4; k++) {
        int n = sizes[k], rc[2];
        MPI_Datatype strided, whole;
        MPI_Type_vector(n, 1, 2, MPI_INT, &strided);
        MPI_Type_create_resized(strided, 0, (MPI_Aint)(2 * n * sizeof(int)), &strided);
        MPI_Type_commit(&strided);
        MPI_Type_contiguous(n, MPI_INT, &whole);
        MPI_Type_commit(&whole);
        /* Receive side: odd ranks one strided item per block (2n ints of room), even ranks n ints. */
        MPI_Datatype rtype = odd ? strided : MPI_INT, stype = odd ? whole : MPI_INT;
        int rcount = odd ? 1 : n, scount = odd ? 1 : n;
        size_t room = (size_t)2 * n * sizeof(int);
        unsigned char *out[2];
        long changed = -1;

        for (int root = 0; root < (p > 1 ? 2 : 1); root++) {
            for (int v = 0; v < 2; v++) {
                out[v] = sentinel_alloc(room + GUARD);
                if (rank == root) fill(out[v], d, 2 * (size_t)n, g_rank, 6, 0);
                rc[v] = v == 0 ? MPI_Bcast(out[v], rcount, rtype, root, ci->comm)
                               : PMPI_Bcast(out[v], rcount, rtype, root, ci->comm);
            }
            Case c = mkcase(root ? "MPI_Bcast(mixed types, root=1)" : "MPI_Bcast(mixed types, root=0)", ci, d, "-", n,
                            odd ? "strided" : "contiguous");
            check(&c, rc, out[0], out[1], room + GUARD, sizeof(int));
            free(out[0]);
            free(out[1]);
        }
        for (int inplace = 0; inplace < 2; inplace++) {
            for (int v = 0; v < 2; v++) {
                unsigned char *send = NULL;
                out[v] = sentinel_alloc(room * p + GUARD);
                if (inplace) fill(out[v] + room * rank, d, 2 * (size_t)n, g_rank, 7, 0);
                else fill(send = xmalloc((size_t)n * sizeof(int)), d, n, g_rank, 7, 0);
                const void *sb = inplace ? MPI_IN_PLACE : send;
                int sc = inplace ? 0 : scount;
                MPI_Datatype st = inplace ? MPI_DATATYPE_NULL : stype;
                rc[v] = v == 0 ? MPI_Allgather(sb, sc, st, out[v], rcount, rtype, ci->comm)
                               : PMPI_Allgather(sb, sc, st, out[v], rcount, rtype, ci->comm);
                if (v == 0 && send) changed = send_changed(send, d, n, 7, 0);
                free(send);
            }
            Case c = mkcase("MPI_Allgather(mixed types)", ci, d, "-", n, mode_name(inplace));
            check(&c, rc, out[0], out[1], room * p + GUARD, sizeof(int));
            if (!inplace) check_send_kept(&c, changed);
            free(out[0]);
            free(out[1]);
        }
        for (int v = 0; v < 2; v++) {
            unsigned char *send = xmalloc((size_t)n * p * sizeof(int));
            fill(send, d, (size_t)n * p, g_rank, 8, 0);
            out[v] = sentinel_alloc(room * p + GUARD);
            rc[v] = v == 0 ? MPI_Alltoall(send, scount, stype, out[v], rcount, rtype, ci->comm)
                           : PMPI_Alltoall(send, scount, stype, out[v], rcount, rtype, ci->comm);
            if (v == 0) changed = send_changed(send, d, (size_t)n * p, 8, 0);
            free(send);
        }
        Case c = mkcase("MPI_Alltoall(mixed types)", ci, d, "-", n, "separate");
        check(&c, rc, out[0], out[1], room * p + GUARD, sizeof(int));
        check_send_kept(&c, changed);
        free(out[0]);
        free(out[1]);
        MPI_Type_free(&strided);
        MPI_Type_free(&whole);
    }
}

/* The send side's datatypes: odd ranks send one strided item (every other int of 2n), even
   ranks n MPI_INT; a broadcast of a type whose map lists its two ints in reverse (indexed,
   displacements {1, 0}: its size equals its extent, yet it is not the bytes in memory
   order); and one rank passing the same buffer twice for a one-element allreduce, which
   Open MPI accepts. */
static void suite_send_types(const CommInfo *ci)
{
    int p = comm_size(ci->comm), rank = comm_rank(ci->comm), odd = rank % 2, rc[2];
    const DType *d = type_named("MPI_INT");
    int sizes[3] = { 1, 100, 20000 };
    for (int k = 0; k < 3; k++) {
        int n = sizes[k];
        MPI_Datatype strided, swapped;
        MPI_Type_vector(n, 1, 2, MPI_INT, &strided);
        MPI_Type_create_resized(strided, 0, (MPI_Aint)(2 * n * sizeof(int)), &strided);
        MPI_Type_commit(&strided);
        int lengths[2] = { 1, 1 }, places[2] = { 1, 0 };
        MPI_Type_indexed(2, lengths, places, MPI_INT, &swapped);
        MPI_Type_commit(&swapped);
        MPI_Datatype stype = odd ? strided : MPI_INT;
        int scount = odd ? 1 : n;
        size_t all = (size_t)n * p * sizeof(int);
        unsigned char *out[2];
        long changed = -1;
        for (int v = 0; v < 2; v++) {
            unsigned char *send = xmalloc((size_t)2 * n * sizeof(int));
            fill(send, d, 2 * (size_t)n, g_rank, 9, 0);
            out[v] = sentinel_alloc(all + GUARD);
            rc[v] = v == 0 ? MPI_Allgather(send, scount, stype, out[v], n, MPI_INT, ci->comm)
                           : PMPI_Allgather(send, scount, stype, out[v], n, MPI_INT, ci->comm);
            if (v == 0) changed = send_changed(send, d, 2 * (size_t)n, 9, 0);
            free(send);
        }
        Case c = mkcase("MPI_Allgather(strided send)", ci, d, "-", n, odd ? "strided" : "contiguous");
        check(&c, rc, out[0], out[1], all + GUARD, sizeof(int));
        check_send_kept(&c, changed);
        free(out[0]);
        free(out[1]);
        for (int v = 0; v < 2; v++) {
            unsigned char *send = xmalloc((size_t)2 * n * p * sizeof(int));
            fill(send, d, 2 * (size_t)n * p, g_rank, 10, 0);
            out[v] = sentinel_alloc(all + GUARD);
            rc[v] = v == 0 ? MPI_Alltoall(send, scount, stype, out[v], n, MPI_INT, ci->comm)
                           : PMPI_Alltoall(send, scount, stype, out[v], n, MPI_INT, ci->comm);
            if (v == 0) changed = send_changed(send, d, 2 * (size_t)n * p, 10, 0);
            free(send);
        }
        c = mkcase("MPI_Alltoall(strided send)", ci, d, "-", n, odd ? "strided" : "contiguous");
        check(&c, rc, out[0], out[1], all + GUARD, sizeof(int));
        check_send_kept(&c, changed);
        free(out[0]);
        free(out[1]);
        for (int v = 0; v < 2; v++) {
            out[v] = sentinel_alloc((size_t)2 * n * sizeof(int) + GUARD);
            if (rank == 0) fill(out[v], d, 2 * (size_t)n, g_rank, 11, 0);
            rc[v] = rank == 0 ? (v == 0 ? MPI_Bcast(out[v], n, swapped, 0, ci->comm)
                                        : PMPI_Bcast(out[v], n, swapped, 0, ci->comm))
                              : (v == 0 ? MPI_Bcast(out[v], 2 * n, MPI_INT, 0, ci->comm)
                                        : PMPI_Bcast(out[v], 2 * n, MPI_INT, 0, ci->comm));
        }
        c = mkcase("MPI_Bcast(swapped pairs at the root)", ci, d, "-", n, "n/a");
        check(&c, rc, out[0], out[1], (size_t)2 * n * sizeof(int) + GUARD, sizeof(int));
        free(out[0]);
        free(out[1]);
        MPI_Type_free(&strided);
        MPI_Type_free(&swapped);
    }
    int one[2][2];
    for (int v = 0; v < 2; v++) {
        one[v][0] = one[v][1] = g_rank + 1;
        void *send = rank == 0 ? (void *)&one[v][1] : (void *)&one[v][0];
        rc[v] = v == 0 ? MPI_Allreduce(send, &one[v][1], 1, MPI_INT, MPI_SUM, ci->comm)
                       : PMPI_Allreduce(send, &one[v][1], 1, MPI_INT, MPI_SUM, ci->comm);
    }
    Case c = mkcase("MPI_Allreduce(one element, same buffer on rank 0)", ci, d, "MPI_SUM", 1, "aliased");
    check(&c, rc, one[0], one[1], sizeof one[0], sizeof(int));
}

/* With MPI_ERRORS_RETURN, invalid arguments must give the error class native
   Open MPI gives (a library must not run its algorithm on them). */
static void suite_errors(void)
{
    MPI_Comm c;
    MPI_Comm_dup(MPI_COMM_WORLD, &c);
    MPI_Comm_set_errhandler(c, MPI_ERRORS_RETURN);
    CommInfo ci = { "dup+ERRORS_RETURN", c, 0, 0, 1 };
    const DType *d = type_named("MPI_INT");
    int buf[4] = { 1, 2, 3, 4 }, out[4];
    /* Buffers MPI forbids, refused by every rank alike (an erroneous call on one rank only
       would leave the others in the collective): the library must not run on them. */
    const char *what[17] = { "MPI_Bcast(root=size)", "MPI_Bcast(root=-5)", "MPI_Allreduce(count=-1)",
                             "MPI_Reduce(root=size)", "MPI_Allreduce(MPI_DATATYPE_NULL)",
                             "MPI_Allreduce(recvbuf=MPI_IN_PLACE)", "MPI_Allreduce(sendbuf=recvbuf)",
                             "MPI_Reduce(both MPI_IN_PLACE)", "MPI_Bcast(MPI_IN_PLACE)",
                             "MPI_Allgather(recvbuf=MPI_IN_PLACE)", "MPI_Alltoall(recvbuf=MPI_IN_PLACE)",
                             "MPI_Reduce_scatter_block(recvbuf=MPI_IN_PLACE)", "MPI_Allgather(sendcount=-1)",
                             "MPI_Alltoall(sendcount=-1)", "MPI_Bcast(uncommitted contiguous type)",
                             "MPI_Bcast(uncommitted vector type)", "MPI_Allgather(uncommitted send type)" };
    /* Derived types never committed: every call using them is MPI_ERR_TYPE. */
    MPI_Datatype loose_contiguous, loose_vector;
    MPI_Type_contiguous(4, MPI_INT, &loose_contiguous);
    MPI_Type_vector(2, 1, 2, MPI_INT, &loose_vector);
    int big[64] = { 0 };
    /* Open MPI reports some buffer errors through MPI_COMM_WORLD's handler. */
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    for (int e = 0; e < 17; e++) {
        int rc[2];
        for (int v = 0; v < 2; v++) {
            switch (e) {
            case 0: rc[v] = v == 0 ? MPI_Bcast(buf, 1, MPI_INT, g_size, c) : PMPI_Bcast(buf, 1, MPI_INT, g_size, c); break;
            case 1: rc[v] = v == 0 ? MPI_Bcast(buf, 1, MPI_INT, -5, c) : PMPI_Bcast(buf, 1, MPI_INT, -5, c); break;
            case 2: rc[v] = v == 0 ? MPI_Allreduce(buf, out, -1, MPI_INT, MPI_SUM, c)
                                   : PMPI_Allreduce(buf, out, -1, MPI_INT, MPI_SUM, c); break;
            case 3: rc[v] = v == 0 ? MPI_Reduce(buf, out, 1, MPI_INT, MPI_SUM, g_size, c)
                                   : PMPI_Reduce(buf, out, 1, MPI_INT, MPI_SUM, g_size, c); break;
            case 4: rc[v] = v == 0 ? MPI_Allreduce(buf, out, 1, MPI_DATATYPE_NULL, MPI_SUM, c)
                                   : PMPI_Allreduce(buf, out, 1, MPI_DATATYPE_NULL, MPI_SUM, c); break;
            case 5: rc[v] = v == 0 ? MPI_Allreduce(buf, MPI_IN_PLACE, 4, MPI_INT, MPI_SUM, c)
                                   : PMPI_Allreduce(buf, MPI_IN_PLACE, 4, MPI_INT, MPI_SUM, c); break;
            case 6: rc[v] = v == 0 ? MPI_Allreduce(buf, buf, 4, MPI_INT, MPI_SUM, c)
                                   : PMPI_Allreduce(buf, buf, 4, MPI_INT, MPI_SUM, c); break;
            case 7: rc[v] = v == 0 ? MPI_Reduce(MPI_IN_PLACE, MPI_IN_PLACE, 4, MPI_INT, MPI_SUM, 0, c)
                                   : PMPI_Reduce(MPI_IN_PLACE, MPI_IN_PLACE, 4, MPI_INT, MPI_SUM, 0, c); break;
            case 8: rc[v] = v == 0 ? MPI_Bcast(MPI_IN_PLACE, 4, MPI_INT, 0, c) : PMPI_Bcast(MPI_IN_PLACE, 4, MPI_INT, 0, c);
                break;
            case 9: rc[v] = v == 0 ? MPI_Allgather(buf, 1, MPI_INT, MPI_IN_PLACE, 1, MPI_INT, c)
                                   : PMPI_Allgather(buf, 1, MPI_INT, MPI_IN_PLACE, 1, MPI_INT, c); break;
            case 10: rc[v] = v == 0 ? MPI_Alltoall(big, 1, MPI_INT, MPI_IN_PLACE, 1, MPI_INT, c)
                                    : PMPI_Alltoall(big, 1, MPI_INT, MPI_IN_PLACE, 1, MPI_INT, c); break;
            case 11: rc[v] = v == 0 ? MPI_Reduce_scatter_block(big, MPI_IN_PLACE, 1, MPI_INT, MPI_SUM, c)
                                    : PMPI_Reduce_scatter_block(big, MPI_IN_PLACE, 1, MPI_INT, MPI_SUM, c); break;
            case 12: rc[v] = v == 0 ? MPI_Allgather(buf, -1, MPI_INT, big, 4, MPI_INT, c)
                                    : PMPI_Allgather(buf, -1, MPI_INT, big, 4, MPI_INT, c); break;
            case 13: rc[v] = v == 0 ? MPI_Alltoall(big, -1, MPI_INT, out, 1, MPI_INT, c)
                                    : PMPI_Alltoall(big, -1, MPI_INT, out, 1, MPI_INT, c); break;
            case 14: rc[v] = v == 0 ? MPI_Bcast(big, 16, loose_contiguous, 0, c) : PMPI_Bcast(big, 16, loose_contiguous, 0, c);
                break;
            case 15: rc[v] = v == 0 ? MPI_Bcast(big, 16, loose_vector, 0, c) : PMPI_Bcast(big, 16, loose_vector, 0, c); break;
            default: rc[v] = v == 0 ? MPI_Allgather(buf, 1, loose_contiguous, big, 4, MPI_INT, c)
                                    : PMPI_Allgather(buf, 1, loose_contiguous, big, 4, MPI_INT, c); break;
            }
        }
        int cls[2];
        MPI_Error_class(rc[0], &cls[0]);
        MPI_Error_class(rc[1], &cls[1]);
        Case cs = mkcase(what[e], &ci, d, "-", 1, "n/a");
        char why[96];
        snprintf(why, sizeof why, "error class %d, native error class %d", cls[0], cls[1]);
        record(&cs, cls[0] == cls[1] && cls[1] != MPI_SUCCESS, why);
    }
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_ARE_FATAL);
    MPI_Type_free(&loose_contiguous);
    MPI_Type_free(&loose_vector);
    MPI_Comm_free(&c);
}

/* ---------- MPI_THREAD_MULTIPLE: two threads, each its own communicator ---------- */

typedef struct { CommInfo ci; int id; } ThreadArg;

static void *thread_body(void *p)
{
    ThreadArg *ta = p;
    const DType *ty[2] = { type_named("MPI_FLOAT"), type_named("MPI_INT") };
    const int counts[4] = { 1, 7, 1000, 65537 };
    for (int it = 0; it < 60; it++) {
        const OpInfo *op = &g_ops[(it + ta->id) % 5];   /* SUM, PROD, MAX, MIN, user */
        t_allreduce(&ta->ci, ty[it % 2], op, counts[(it / 2) % 4], (it / 8) % 2);
    }
    return NULL;
}

static void suite_threads(int provided)
{
    CommInfo none = { "-", MPI_COMM_NULL, 0, 0, 0 };
    Case c = mkcase("MPI_Init_thread(MULTIPLE)", &none, NULL, "-", 0, "n/a");
    int queried;
    MPI_Query_thread(&queried);
    char why[96];
    snprintf(why, sizeof why, "provided %d, MPI_Query_thread says %d", provided, queried);
    record(&c, queried == provided, why);
    if (provided < MPI_THREAD_MULTIPLE) {
        if (g_rank == 0) printf("note: MPI_THREAD_MULTIPLE not provided (%d), thread test skipped\n", provided);
        return;
    }
    ThreadArg args[2];
    pthread_t th[2];
    for (int i = 0; i < 2; i++) {   /* created in the same order on every rank */
        args[i] = (ThreadArg){ { i ? "thread1-dup" : "thread0-dup", MPI_COMM_NULL, 0, 0, 1 }, i };
        MPI_Comm_dup(MPI_COMM_WORLD, &args[i].ci.comm);
    }
    for (int i = 0; i < 2; i++)
        pthread_create(&th[i], NULL, thread_body, &args[i]);
    for (int i = 0; i < 2; i++) {
        pthread_join(th[i], NULL);
        MPI_Comm_free(&args[i].ci.comm);
    }
}

/* ---------- --comm-churn N ---------- */

static long rss_bytes(void)
{
    long pages = 0, resident = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (f) {
        if (fscanf(f, "%ld %ld", &pages, &resident) != 2) resident = 0;
        fclose(f);
    }
    return resident * sysconf(_SC_PAGESIZE);
}

enum { CHURN_FLOATS = 1024, CHURN_INTS = 64 };

/* Exact expected allreduce sum of gen_value over the world ranks `from`, `from + step`, ... */
static void expected_sum(float *want, int salt, int from, int step)
{
    for (int i = 0; i < CHURN_FLOATS; i++) {
        long s = 0;
        for (int r = from; r < g_size; r += step) s += gen_value(r, (size_t)i, salt, 0, 0);
        want[i] = (float)s;
    }
}

/* One iteration: dup, a checked allreduce and bcast on it, sometimes a split, free. */
static int churn_once(long it, float *send, float *recv, float *want, int *ints)
{
    const DType *f = type_named("MPI_FLOAT");
    int salt = (int)(it % 13), ok = 1, root = (int)(it % g_size);
    MPI_Comm c;
    MPI_Comm_dup(MPI_COMM_WORLD, &c);

    fill(send, f, CHURN_FLOATS, g_rank, salt, 0);
    expected_sum(want, salt, 0, 1);
    MPI_Allreduce(send, recv, CHURN_FLOATS, MPI_FLOAT, MPI_SUM, c);
    ok &= memcmp(recv, want, sizeof(float) * CHURN_FLOATS) == 0;

    for (int i = 0; i < CHURN_INTS; i++) ints[i] = g_rank == root ? (int)(it * 31 + i) : -1;
    MPI_Bcast(ints, CHURN_INTS, MPI_INT, root, c);
    for (int i = 0; i < CHURN_INTS; i++) ok &= ints[i] == (int)(it * 31 + i);

    if (it % 1000 == 999) {   /* a split now and then: odd / even world ranks */
        MPI_Comm s;
        MPI_Comm_split(c, g_rank % 2, g_rank, &s);
        expected_sum(want, salt, g_rank % 2, 2);
        MPI_Allreduce(send, recv, CHURN_FLOATS, MPI_FLOAT, MPI_SUM, s);
        ok &= memcmp(recv, want, sizeof(float) * CHURN_FLOATS) == 0;
        MPI_Comm_free(&s);
    }
    MPI_Comm_free(&c);
    return ok;
}

static void run_comm_churn(long n)
{
    float *send = xmalloc(sizeof(float) * CHURN_FLOATS), *recv = xmalloc(sizeof(float) * CHURN_FLOATS),
          *want = xmalloc(sizeof(float) * CHURN_FLOATS);
    int *ints = xmalloc(sizeof(int) * CHURN_INTS);
    CommInfo ci = { "dup(churn)", MPI_COMM_NULL, 0, 0, 1 };
    const DType *f = type_named("MPI_FLOAT");

    for (long it = 0; it < 200; it++)   /* warm-up: pools and caches reach their steady size */
        churn_once(it, send, recv, want, ints);
    long before = rss_bytes();
    for (long it = 0; it < n; it++) {
        int ok = churn_once(it, send, recv, want, ints);
        Case c = mkcase("MPI_Comm_dup+MPI_Allreduce+MPI_Bcast", &ci, f, "MPI_SUM", CHURN_FLOATS, "separate");
        char why[96];
        snprintf(why, sizeof why, "wrong result in iteration %ld", it);
        record(&c, ok, why);
    }
    long grew = (rss_bytes() - before) / 1024, most;
    PMPI_Allreduce(&grew, &most, 1, MPI_LONG, MPI_MAX, MPI_COMM_WORLD);
    Case c = mkcase("comm-churn-RSS", &ci, NULL, "-", n, "n/a");
    char why[96];
    snprintf(why, sizeof why, "RSS grew by %ld KiB (limit 16 MiB)", grew);
    record(&c, grew <= 16 * 1024, why);
    if (g_rank == 0) printf("comm churn: %ld communicators, RSS grew by %ld KiB\n", n, most);
    free(send);
    free(recv);
    free(want);
    free(ints);
}

/* ---------- --report-calls ---------- */

/* Exactly 5 MPI_Allreduce (float sum, 1 Mi floats), 3 MPI_Bcast (4096 B of
   MPI_BYTE), 2 MPI_Barrier and 1 MPI_Allreduce with a user op, on
   MPI_COMM_WORLD. Results are checked against locally computed values, so no
   other intercepted call is made. */
static void run_report_calls(void)
{
    enum { N = 1 << 20, NB = 4096, NU = 1024 };
    const DType *f = type_named("MPI_FLOAT");
    float *send = xmalloc(sizeof(float) * N), *recv = xmalloc(sizeof(float) * N),
          *want = xmalloc(sizeof(float) * N);
    unsigned char *bytes = xmalloc(NB);
    CommInfo ci = { "world", MPI_COMM_WORLD, 0, 0, 0 };
    char why[96] = "wrong result";

    fill(send, f, N, g_rank, 0, 0);
    for (int i = 0; i < N; i++) {
        long s = 0;
        for (int r = 0; r < g_size; r++) s += gen_value(r, (size_t)i, 0, 0, 0);
        want[i] = (float)s;
    }
    for (int k = 0; k < 5; k++) {
        memset(recv, SENTINEL, sizeof(float) * N);
        int rc = MPI_Allreduce(send, recv, N, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
        Case c = mkcase("MPI_Allreduce", &ci, f, "MPI_SUM", N, "separate");
        record(&c, rc == MPI_SUCCESS && memcmp(recv, want, sizeof(float) * N) == 0, why);
    }
    for (int k = 0; k < 3; k++) {
        int root = k % g_size;
        for (int i = 0; i < NB; i++) bytes[i] = g_rank == root ? (unsigned char)(i * 7 + k) : SENTINEL;
        int rc = MPI_Bcast(bytes, NB, MPI_BYTE, root, MPI_COMM_WORLD), ok = rc == MPI_SUCCESS;
        for (int i = 0; i < NB; i++) ok &= bytes[i] == (unsigned char)(i * 7 + k);
        Case c = mkcase("MPI_Bcast", &ci, type_named("MPI_BYTE"), "-", NB, "n/a");
        record(&c, ok, why);
    }
    for (int k = 0; k < 2; k++) {
        int rc = MPI_Barrier(MPI_COMM_WORLD);
        Case c = mkcase("MPI_Barrier", &ci, NULL, "-", 0, "n/a");
        record(&c, rc == MPI_SUCCESS, why);
    }
    /* The user op gives sum + (size - 1); want[] still holds the sums. */
    memset(recv, SENTINEL, sizeof(float) * NU);
    int rc = MPI_Allreduce(send, recv, NU, MPI_FLOAT, g_ops[OP_USER].op, MPI_COMM_WORLD), ok = rc == MPI_SUCCESS;
    for (int i = 0; i < NU; i++) ok &= recv[i] == want[i] + (float)(g_size - 1);
    Case c = mkcase("MPI_Allreduce", &ci, f, g_ops[OP_USER].name, NU, "separate");
    record(&c, ok, why);

    free(send);
    free(recv);
    free(want);
    free(bytes);
}

/* ---------- main ---------- */

static void phase(const char *name, double *t)
{
    if (verbose() && g_rank == 0) {
        printf("  %-28s %7.2f s\n", name, now() - *t);
        fflush(stdout);
    }
    *t = now();
}

static void run_all(int provided, int want_multiple)
{
    CommInfo comms[7];
    int nc = 0, color = g_rank % 2;
    MPI_Comm dup, split, reversed, shared, inter = MPI_COMM_NULL;
    MPI_Comm_dup(MPI_COMM_WORLD, &dup);
    MPI_Comm_split(MPI_COMM_WORLD, color, g_rank, &split);
    /* World's ranks in reverse order: the same size as world on another node layout (2+1
       hosts become 1+2), and not congruent with MPI_COMM_WORLD. */
    MPI_Comm_split(MPI_COMM_WORLD, 0, g_size - 1 - g_rank, &reversed);
    MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, g_rank, MPI_INFO_NULL, &shared);
    comms[nc++] = (CommInfo){ "world", MPI_COMM_WORLD, 0, 0, 0 };
    comms[nc++] = (CommInfo){ "dup", dup, 0, 0, 1 };
    comms[nc++] = (CommInfo){ "split(odd/even)", split, 0, 0, 1 };
    comms[nc++] = (CommInfo){ "reversed", reversed, 0, 0, 1 };
    comms[nc++] = (CommInfo){ "self", MPI_COMM_SELF, 0, 0, 0 };
    comms[nc++] = (CommInfo){ "split_type(shared)", shared, 0, 0, 1 };
    if (g_size >= 2) {
        /* Leaders: local rank 0 of each half, i.e. world ranks 0 (even) and 1 (odd). */
        MPI_Intercomm_create(split, 0, MPI_COMM_WORLD, color == 0 ? 1 : 0, 77, &inter);
        comms[nc++] = (CommInfo){ "intercomm(even|odd)", inter, 1, color, 1 };
    }

    double t = now();
    for (int i = 0; i < nc; i++) {
        if (comms[i].inter) suite_intercomm(&comms[i]);
        else suite_intracomm(&comms[i]);
        phase(comms[i].name, &t);
    }
    suite_large(&comms[0]);
    phase("large (> 64 MiB)", &t);
    suite_signatures(&comms[0]);
    suite_signatures(&comms[3]);
    suite_send_types(&comms[0]);
    suite_send_types(&comms[3]);
    phase("mixed datatypes", &t);
    suite_errors();
    t_barrier_waits(&comms[0]);
    t_barrier_waits(&comms[1]);
    phase("errors + barrier waits", &t);
    if (want_multiple) {
        suite_threads(provided);
        phase("threads", &t);
    }
    for (int i = 0; i < nc; i++)
        if (comms[i].owned) MPI_Comm_free(&comms[i].comm);
}

int main(int argc, char **argv)
{
    const char *tm = getenv("COLLECTIVES_THREAD_MULTIPLE");
    int want_multiple = tm && strcmp(tm, "1") == 0, provided;
    MPI_Init_thread(&argc, &argv, want_multiple ? MPI_THREAD_MULTIPLE : MPI_THREAD_FUNNELED, &provided);
    MPI_Comm_rank(MPI_COMM_WORLD, &g_rank);
    MPI_Comm_size(MPI_COMM_WORLD, &g_size);
    init_types();
    init_ops();

    int usage = 0;
    if (argc == 3 && strcmp(argv[1], "--comm-churn") == 0 && atol(argv[2]) > 0) {
        run_comm_churn(atol(argv[2]));
    } else if (argc == 2 && strcmp(argv[1], "--report-calls") == 0) {
        run_report_calls();
    } else if (argc == 3 && strcmp(argv[1], "--raise") == 0 && atoi(argv[2]) > 0) {
        /* A crash ends the process with its signal, as it does without the library. */
        raise(atoi(argv[2]));
        fprintf(stderr, "FAIL: still alive after raise(%d)\n", atoi(argv[2]));
        usage = 1;
    } else if (argc == 1) {
        run_all(provided, want_multiple);
    } else {
        usage = 1;
        if (g_rank == 0) fprintf(stderr, "usage: %s [--comm-churn N | --report-calls | --raise SIGNAL]\n", argv[0]);
    }

    /* Tally with PMPI_ so the library never sees it; every rank learns the
       total so all exit with the same status. */
    long mine[2] = { g_passed, g_failed + usage }, sum[2];
    PMPI_Allreduce(mine, sum, 2, MPI_LONG, MPI_SUM, MPI_COMM_WORLD);
    if (g_rank == 0) {
        printf("%ld passed, %ld failed\n", sum[0], sum[1]);
        fflush(stdout);
    }

    MPI_Op_free(&g_ops[OP_USER].op);
    MPI_Type_free(&g_contig3);
    MPI_Type_free(&g_vector);
    MPI_Finalize();
    return sum[1] == 0 ? 0 : 1;
}
