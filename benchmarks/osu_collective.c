/*
 * osu_collective.c - an OSU-micro-benchmarks-style latency benchmark for MPI collectives,
 * written from scratch for Weft. It only calls the standard MPI API, so it measures
 * whatever implementation of the collectives is linked or preloaded: native Open MPI, or
 * Weft's LD_PRELOAD interposition library (benchmarks/interpose.sh runs both).
 *
 *   osu_collective COLLECTIVE [--min-bytes N] [--max-bytes N] [--iters N] [--warmup N]
 *                             [--dtype float|int] [--check] [--paired ROUNDS]
 *
 * COLLECTIVE: allreduce, reduce, bcast, allgather, reduce_scatter_block, alltoall, barrier.
 * N accepts a K, M or G suffix (binary: 1K = 1024).
 *
 * Message size ("bytes"), following the OSU convention for each collective:
 *   allreduce, reduce, bcast   bytes of the vector each call reduces / broadcasts
 *                              (count * sizeof(dtype)); send and receive buffers are bytes.
 *   allgather                  bytes each rank contributes (the send buffer); the receive
 *                              buffer is bytes * ranks.
 *   alltoall                   bytes sent to each peer; send and receive buffers are
 *                              bytes * ranks.
 *   reduce_scatter_block       bytes of the whole input vector on each rank (as OSU's
 *                              osu_reduce_scatter); each rank receives a block of
 *                              bytes / ranks. Sizes whose block would be under one element
 *                              are skipped.
 *   barrier                    no data; one row with bytes 0.
 * Sizes double from --min-bytes (default 8) to --max-bytes (default 1M); a size that is not
 * a whole number of elements is rounded down (and at least one element); for
 * reduce_scatter_block it is rounded down to whole blocks (the row shows the bytes used).
 *
 * Timing, per size: the warm-up calls, an MPI_Barrier, then the timed calls between two
 * MPI_Wtime readings; each rank's latency is (elapsed / calls). The row reports the mean over
 * ranks (MPI_Reduce SUM / ranks) and the min and max over ranks, in microseconds.
 * --iters and --warmup (defaults 1000 and 100) apply up to 64 KiB; above that both scale
 * by sqrt(64 KiB / bytes) (1 MiB: 1/4, 16 MiB: 1/16, 64 MiB: 1/32 of them), with at
 * least 10 timed calls and 2 warm-up calls.
 *
 * Buffers: one send and one receive buffer, each from malloc at the largest size (as a
 * third-party application would allocate them, not MPI_Alloc_mem), written once before
 * any timing.
 *
 * --paired ROUNDS: an A/B inside one process instead. Each size runs ROUNDS rounds; a round
 * times --iters/ROUNDS calls (at least 1) through MPI_ and as many through PMPI_, in
 * alternating order, each block after a PMPI_Barrier. Under LD_PRELOAD MPI_ is the
 * interposed library and PMPI_ is always Open MPI itself, so both sides see the same
 * buffers, caches and machine noise at the same moments. The row reports the median over
 * rounds of each side's latency (mean over ranks) and the median of the rounds' ratios
 * (pmpi / mpi): "native_us weft_us speedup". Without a preloaded library both sides are
 * native and the speedup measures the method's own noise (an A/A run).
 *
 * --check: once per size, after the timed calls, one more call on freshly filled buffers is
 * checked against the exact expected result (all data are small integers, so a float sum
 * is exact too). Every collective except barrier is checked. A wrong result prints one
 * line per failing rank on stderr and the program exits 1 after the size completes.
 * The pass/fail vote uses point-to-point messages only, so it does not depend on the
 * collectives under test.
 */
#include <mpi.h>
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum coll { ALLREDUCE, REDUCE, BCAST, ALLGATHER, REDUCE_SCATTER_BLOCK, ALLTOALL, BARRIER };
static const char *coll_names[] = {"allreduce", "reduce", "bcast", "allgather",
                                   "reduce_scatter_block", "alltoall", "barrier"};

static int rank, nranks;

static void usage_exit(const char *msg) {
    if (rank == 0) {
        if (msg) fprintf(stderr, "osu_collective: %s\n", msg);
        fprintf(stderr,
                "usage: osu_collective COLLECTIVE [--min-bytes N] [--max-bytes N] [--iters N]\n"
                "                      [--warmup N] [--dtype float|int] [--check]\n"
                "  COLLECTIVE: allreduce reduce bcast allgather reduce_scatter_block alltoall barrier\n");
    }
    MPI_Finalize();
    exit(2);
}

/* "64", "16K", "64M", "1G" -> bytes; -1 on error. */
static long long parse_size(const char *s) {
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || v < 0) return -1;
    switch (*end) {
    case '\0': break;
    case 'k': case 'K': v <<= 10; end++; break;
    case 'm': case 'M': v <<= 20; end++; break;
    case 'g': case 'G': v <<= 30; end++; break;
    default: return -1;
    }
    if (*end == 'B' || *end == 'b') end++;
    return *end ? -1 : v;
}

/* Value i of rank r's contribution: a small integer, so sums over ranks are exact in float. */
static inline int value(int r, size_t i) { return (r + 1) + (int)(i % 13); }

static void fill(void *buf, size_t count, int is_float, int r) {
    if (is_float) {
        float *f = buf;
        for (size_t i = 0; i < count; i++) f[i] = (float)value(r, i);
    } else {
        int *v = buf;
        for (size_t i = 0; i < count; i++) v[i] = value(r, i);
    }
}

static inline int get(const void *buf, size_t i, int is_float) {
    return is_float ? (int)((const float *)buf)[i] : ((const int *)buf)[i];
}

/* Expected element at index i of the sum over all ranks of value(r, i). */
static inline int sum_value(size_t i) {
    return nranks * (nranks + 1) / 2 + nranks * (int)(i % 13);
}

/* Runs one call of the collective with `count` elements (the OSU message size in elements):
 * through MPI_ (whatever is linked or preloaded), or straight to Open MPI's PMPI_ entry
 * points when `native` (--paired compares the two inside one process). */
static void run_via(enum coll c, void *sbuf, void *rbuf, int count, MPI_Datatype dt, int native) {
    MPI_Comm w = MPI_COMM_WORLD;
    switch (c) {
    case ALLREDUCE:
        native ? PMPI_Allreduce(sbuf, rbuf, count, dt, MPI_SUM, w) : MPI_Allreduce(sbuf, rbuf, count, dt, MPI_SUM, w);
        break;
    case REDUCE:
        native ? PMPI_Reduce(sbuf, rbuf, count, dt, MPI_SUM, 0, w) : MPI_Reduce(sbuf, rbuf, count, dt, MPI_SUM, 0, w);
        break;
    case BCAST: native ? PMPI_Bcast(sbuf, count, dt, 0, w) : MPI_Bcast(sbuf, count, dt, 0, w); break;
    case ALLGATHER:
        native ? PMPI_Allgather(sbuf, count, dt, rbuf, count, dt, w) : MPI_Allgather(sbuf, count, dt, rbuf, count, dt, w);
        break;
    case REDUCE_SCATTER_BLOCK:
        native ? PMPI_Reduce_scatter_block(sbuf, rbuf, count / nranks, dt, MPI_SUM, w)
               : MPI_Reduce_scatter_block(sbuf, rbuf, count / nranks, dt, MPI_SUM, w);
        break;
    case ALLTOALL:
        native ? PMPI_Alltoall(sbuf, count, dt, rbuf, count, dt, w) : MPI_Alltoall(sbuf, count, dt, rbuf, count, dt, w);
        break;
    case BARRIER: native ? PMPI_Barrier(w) : MPI_Barrier(w); break;
    }
}

static void run(enum coll c, void *sbuf, void *rbuf, int count, MPI_Datatype dt) {
    run_via(c, sbuf, rbuf, count, dt, 0);
}

/* One checked call; returns the number of wrong elements on this rank (first one printed). */
static long check(enum coll c, void *sbuf, void *rbuf, int count, MPI_Datatype dt, int is_float,
                  size_t bytes) {
    size_t esz = 4, n = (size_t)count;
    size_t rcount = n; /* elements this rank must verify in its receive buffer */
    /* Fresh inputs, and a receive buffer of -1 so a call that writes nothing is caught. */
    switch (c) {
    case BCAST:
        if (rank == 0) fill(sbuf, n, is_float, 0); else memset(sbuf, 0xff, n * esz);
        break;
    case ALLTOALL:
        /* The block for peer p holds value(rank, p * n + i): rank q's block from rank r is
         * then value(r, q * n + i). */
        fill(sbuf, n * nranks, is_float, rank);
        memset(rbuf, 0xff, n * nranks * esz);
        rcount = n * nranks;
        break;
    case ALLGATHER:
        fill(sbuf, n, is_float, rank);
        memset(rbuf, 0xff, n * nranks * esz);
        rcount = n * nranks;
        break;
    case REDUCE_SCATTER_BLOCK:
        fill(sbuf, n, is_float, rank);
        rcount = n / nranks;
        memset(rbuf, 0xff, rcount * esz);
        break;
    default:
        fill(sbuf, n, is_float, rank);
        memset(rbuf, 0xff, n * esz);
        if (c == REDUCE && rank != 0) rcount = 0;
        break;
    }
    run(c, sbuf, rbuf, count, dt);

    long bad = 0;
    size_t first = 0;
    int got_first = 0, want_first = 0;
    const void *out = (c == BCAST) ? sbuf : rbuf;
    for (size_t i = 0; i < rcount; i++) {
        int want;
        switch (c) {
        case BCAST: want = value(0, i); break;
        case ALLGATHER: want = value((int)(i / n), i % n); break;
        case ALLTOALL: want = value((int)(i / n), (size_t)rank * n + i % n); break;
        case REDUCE_SCATTER_BLOCK: want = sum_value((size_t)rank * rcount + i); break;
        default: want = sum_value(i); break;
        }
        int got = get(out, i, is_float);
        if (got != want) {
            if (!bad) { first = i; got_first = got; want_first = want; }
            bad++;
        }
    }
    if (bad)
        fprintf(stderr,
                "osu_collective: CHECK FAILED: %s %zu bytes, rank %d: %ld of %zu elements wrong, "
                "first at [%zu]: got %d, want %d\n",
                coll_names[c], bytes, rank, bad, rcount, first, got_first, want_first);
    return bad;
}

/* Any rank failed? Point-to-point only, so it is independent of the collectives tested. */
static int any_failed(int mine) {
    int all = mine;
    if (rank == 0) {
        for (int r = 1; r < nranks; r++) {
            int f;
            MPI_Recv(&f, 1, MPI_INT, r, 77, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
            all |= f;
        }
        for (int r = 1; r < nranks; r++) MPI_Send(&all, 1, MPI_INT, r, 78, MPI_COMM_WORLD);
    } else {
        MPI_Send(&mine, 1, MPI_INT, 0, 77, MPI_COMM_WORLD);
        MPI_Recv(&all, 1, MPI_INT, 0, 78, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
    }
    return all;
}

static int by_value(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, long n) {
    qsort(v, (size_t)n, sizeof *v, by_value);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* --paired: `rounds` rounds of MPI_ against PMPI_ (see the header). On rank 0, *native_us and
 * *weft_us get the medians over rounds of each side's latency (mean over ranks); every rank
 * returns the median of the rounds' ratios. */
static double paired(enum coll c, void *sbuf, void *rbuf, int count, MPI_Datatype dt, long warmup, long iters,
                     long rounds, double *native_us, double *weft_us) {
    long k = iters / rounds < 1 ? 1 : iters / rounds;
    for (long i = 0; i < warmup; i++) {
        run_via(c, sbuf, rbuf, count, dt, 0);
        run_via(c, sbuf, rbuf, count, dt, 1);
    }
    double *mine = malloc(sizeof(double) * 2 * (size_t)rounds), *all = malloc(sizeof(double) * 2 * (size_t)rounds);
    if (!mine || !all) MPI_Abort(MPI_COMM_WORLD, 2);
    for (long r = 0; r < rounds; r++) {
        for (int side = 0; side < 2; side++) {
            int native = (int)((r + side) % 2); /* W N, N W, W N, ... */
            PMPI_Barrier(MPI_COMM_WORLD);
            double t0 = MPI_Wtime();
            for (long i = 0; i < k; i++) run_via(c, sbuf, rbuf, count, dt, native);
            mine[2 * r + native] = (MPI_Wtime() - t0) * 1e6 / (double)k;
        }
    }
    PMPI_Reduce(mine, all, (int)(2 * rounds), MPI_DOUBLE, MPI_SUM, 0, MPI_COMM_WORLD);
    double ratio = 0;
    if (rank == 0) {
        double *w = malloc(sizeof(double) * (size_t)rounds), *n = malloc(sizeof(double) * (size_t)rounds);
        double *q = malloc(sizeof(double) * (size_t)rounds);
        if (!w || !n || !q) MPI_Abort(MPI_COMM_WORLD, 2);
        for (long r = 0; r < rounds; r++) {
            w[r] = all[2 * r] / nranks;
            n[r] = all[2 * r + 1] / nranks;
            q[r] = n[r] / w[r];
        }
        ratio = median(q, rounds);
        *native_us = median(n, rounds);
        *weft_us = median(w, rounds);
        free(w); free(n); free(q);
    }
    free(mine);
    free(all);
    return ratio;
}

/* base calls up to 64 KiB, then base * sqrt(64 KiB / bytes): a size 4x larger gets half
 * the calls, so large sizes still time a window of 0.1-1 s (single hiccups of a few ms on a
 * shared machine stay small) without the largest ones dominating the run. */
static long scaled(long base, size_t bytes, long floor) {
    long n = base;
    if (bytes > (64u << 10)) n = (long)((double)base * sqrt((double)(64u << 10) / (double)bytes));
    return n < floor ? floor : n;
}

int main(int argc, char **argv) {
    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &nranks);

    if (argc < 2) usage_exit(NULL);
    int c = -1;
    for (int i = 0; i <= BARRIER; i++)
        if (!strcmp(argv[1], coll_names[i])) c = i;
    if (c < 0) usage_exit("unknown collective");

    long long min_bytes = 8, max_bytes = 1 << 20;
    long iters = 1000, warmup = 100;
    int is_float = 1, do_check = 0;
    long rounds = 0;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        const char *v = (i + 1 < argc) ? argv[i + 1] : NULL;
        if (!strcmp(a, "--check")) { do_check = 1; continue; }
        if (!v) usage_exit("missing value for an option");
        if (!strcmp(a, "--min-bytes")) min_bytes = parse_size(v);
        else if (!strcmp(a, "--max-bytes")) max_bytes = parse_size(v);
        else if (!strcmp(a, "--iters")) iters = strtol(v, NULL, 10);
        else if (!strcmp(a, "--warmup")) warmup = strtol(v, NULL, 10);
        else if (!strcmp(a, "--paired")) rounds = strtol(v, NULL, 10);
        else if (!strcmp(a, "--dtype")) {
            if (!strcmp(v, "float")) is_float = 1;
            else if (!strcmp(v, "int")) is_float = 0;
            else usage_exit("--dtype must be float or int");
        } else usage_exit("unknown option");
        i++;
    }
    if (min_bytes < 0 || max_bytes < 0 || iters < 1 || warmup < 0 || rounds < 0 || rounds > 10000)
        usage_exit("bad size or count");
    if (min_bytes < 4) min_bytes = 4;
    if (max_bytes < min_bytes) max_bytes = min_bytes;
    if (max_bytes / 4 > INT32_MAX) usage_exit("--max-bytes too large for an int count");

    MPI_Datatype dt = is_float ? MPI_FLOAT : MPI_INT;
    const size_t esz = 4;
    enum coll coll = (enum coll)c;

    /* Buffer sizes at the largest message (see the size convention above). */
    size_t max_elems = (size_t)(max_bytes / esz);
    size_t sbytes = max_elems * esz, rbytes = max_elems * esz;
    if (coll == ALLGATHER) rbytes *= nranks;
    if (coll == ALLTOALL) { sbytes *= nranks; rbytes *= nranks; }
    char *sbuf = malloc(sbytes), *rbuf = malloc(rbytes);
    if (!sbuf || !rbuf) {
        fprintf(stderr, "osu_collective: rank %d: malloc of %zu + %zu bytes failed\n", rank,
                sbytes, rbytes);
        MPI_Abort(MPI_COMM_WORLD, 2);
    }
    /* Touch every page once, before any timing. */
    fill(sbuf, sbytes / esz, is_float, rank);
    memset(rbuf, 0, rbytes);

    const char *convention =
        coll == ALLGATHER ? "bytes = per-rank contribution; receive = bytes*ranks"
        : coll == ALLTOALL ? "bytes = per-peer block; send and receive = bytes*ranks"
        : coll == REDUCE_SCATTER_BLOCK ? "bytes = whole input vector; block = bytes/ranks"
        : coll == BARRIER ? "no data"
        : "bytes = message (count*sizeof(dtype))";
    if (rank == 0) {
        printf("# osu_collective %s, %d ranks, dtype %s, %s; iters %ld / warmup %ld up to 64 KiB, "
               "times sqrt(64 KiB/bytes) above (min 10 / 2)%s; latency per call in us "
               "(avg, min, max over ranks)\n",
               coll_names[coll], nranks, is_float ? "float" : "int", convention, iters, warmup,
               do_check ? "; results checked" : "");
        if (rounds)
            printf("# paired: %ld rounds per size, MPI_ (weft when preloaded) against PMPI_ (native)\n"
                   "%-12s %12s %12s %12s\n", rounds, "# bytes", "native_us", "weft_us", "speedup");
        else
            printf("%-12s %12s %12s %12s\n", "# bytes", "avg_us", "min_us", "max_us");
        fflush(stdout);
    }

    int failed = 0;
    for (long long bytes = min_bytes; bytes <= max_bytes; bytes = (coll == BARRIER) ? max_bytes + 1 : bytes * 2) {
        long long n = bytes / (long long)esz;
        if (n < 1) n = 1;
        if (coll == REDUCE_SCATTER_BLOCK && n / nranks < 1) continue;
        if (coll == REDUCE_SCATTER_BLOCK) n = (n / nranks) * nranks; /* whole blocks */
        size_t b = (coll == BARRIER) ? 0 : (size_t)(n * esz);

        long it = scaled(iters, b, iters < 10 ? iters : 10);
        long wu = scaled(warmup, b, warmup < 2 ? warmup : 2);

        double sum = 0, lo = 0, hi = 0, native_us = 0, speedup = 0;
        if (rounds) {
            speedup = paired(coll, sbuf, rbuf, (int)n, dt, wu, it, rounds, &native_us, &sum);
        } else {
            for (long i = 0; i < wu; i++) run(coll, sbuf, rbuf, (int)n, dt);
            MPI_Barrier(MPI_COMM_WORLD);
            double t0 = MPI_Wtime();
            for (long i = 0; i < it; i++) run(coll, sbuf, rbuf, (int)n, dt);
            double t = (MPI_Wtime() - t0) * 1e6 / (double)it;
            MPI_Reduce(&t, &sum, 1, MPI_DOUBLE, MPI_SUM, 0, MPI_COMM_WORLD);
            MPI_Reduce(&t, &lo, 1, MPI_DOUBLE, MPI_MIN, 0, MPI_COMM_WORLD);
            MPI_Reduce(&t, &hi, 1, MPI_DOUBLE, MPI_MAX, 0, MPI_COMM_WORLD);
            sum /= nranks;
        }

        int bad = 0;
        if (do_check && coll != BARRIER) {
            bad = check(coll, sbuf, rbuf, (int)n, dt, is_float, b) != 0;
            bad = any_failed(bad);
            /* The check's inputs equal the timing inputs (a passed bcast leaves rank 0's
             * values in sbuf, also valid data), so nothing needs restoring. */
        }
        if (rank == 0) {
            if (rounds)
                printf("%-12zu %12.2f %12.2f %12.2f%s\n", b, native_us, sum, speedup, bad ? "   # CHECK FAILED" : "");
            else
                printf("%-12zu %12.2f %12.2f %12.2f%s\n", b, sum, lo, hi, bad ? "   # CHECK FAILED" : "");
            fflush(stdout);
        }
        if (bad) { failed = 1; break; }
    }

    free(sbuf);
    free(rbuf);
    MPI_Finalize();
    return failed ? 1 : 0;
}
