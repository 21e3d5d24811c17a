// Throughput of CWeft's reduction kernels in one process: f32 sum in place (out == a, what
// receive-and-reduce and pulls do) and apart (out, a, b distinct), by size. Built by
// benchmarks/reduce-kernels.sh with the flags Package.swift gives CWeft.
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "cweft.h"

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/// Median of `rounds` timings of `iterations` calls, in seconds per call.
static double time_kernel(float *out, const float *a, const float *b, long n, int iterations, int rounds) {
    double t[15];
    for (int r = 0; r < rounds; r++) {
        double start = now();
        for (int i = 0; i < iterations; i++) weft_reduce_pair(out, a, b, n, WEFT_F32, WEFT_SUM);
        t[r] = (now() - start) / iterations;
    }
    for (int i = 1; i < rounds; i++)
        for (int j = i; j > 0 && t[j] < t[j - 1]; j--) {
            double x = t[j];
            t[j] = t[j - 1];
            t[j - 1] = x;
        }
    return t[rounds / 2];
}

int main(void) {
    printf("%10s %16s %16s\n", "bytes", "in place GB/s", "apart GB/s");
    for (long bytes = 256 << 10; bytes <= 16 << 20; bytes *= 2) {
        long n = bytes / 4;
        float *a = malloc(bytes), *b = malloc(bytes), *c = malloc(bytes);
        if (!a || !b || !c) return 1;
        for (long i = 0; i < n; i++) a[i] = (float)(i % 7), b[i] = 1, c[i] = 0;
        int iterations = (int)(((long)64 << 20) / bytes);
        // GB/s of the vector reduced (its bytes), as the rest of BENCHMARKS counts.
        double in_place = time_kernel(a, a, b, n, iterations, 7), apart = time_kernel(c, a, b, n, iterations, 7);
        printf("%10ld %16.2f %16.2f\n", bytes, bytes / in_place / 1e9, bytes / apart / 1e9);
        free(a), free(b), free(c);
    }
    return 0;
}
