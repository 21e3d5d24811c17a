// Reduction kernels: plain loops over restrict pointers that the compiler vectorises
// (-O3), one instantiation per (type, operation). Memory-bound, so the many-source form
// works in cache-sized blocks to read each source once and write the result once.
#include <string.h>

#include "cweft.h"

size_t weft_dtype_size(weft_dtype_t dtype) {
    switch (dtype) {
    case WEFT_F32: return 4;
    case WEFT_F64: return 8;
    case WEFT_I32: return 4;
    case WEFT_I64: return 8;
    case WEFT_BYTE: return 1;
    }
    return 0;
}

#define WEFT_SUM_OP(a, b) ((a) + (b))
#define WEFT_PROD_OP(a, b) ((a) * (b))
#define WEFT_MAX_OP(a, b) ((a) > (b) ? (a) : (b))
#define WEFT_MIN_OP(a, b) ((a) < (b) ? (a) : (b))

// out[i] = a[i] OP b[i]; `out` may equal `a`. Two loops, each over pointers that do not
// alias: without `restrict` the compiler guards its vector loop with an overlap test that
// also rejects out == a, so the in-place case — most reductions — ran scalar (clang 21, f32
// sum in cache: 7.5–10.5 GB/s against 20–28 vectorised; benchmarks/reduce-kernels.sh).
#define WEFT_KERNEL(NAME, T, OP)                                                                     \
    static void NAME##_in_place(T *restrict out, const T *restrict b, int64_t n) {                    \
        for (int64_t i = 0; i < n; i++) out[i] = OP(out[i], b[i]);                                   \
    }                                                                                                \
    static void NAME##_apart(T *restrict out, const T *restrict a, const T *restrict b, int64_t n) {  \
        for (int64_t i = 0; i < n; i++) out[i] = OP(a[i], b[i]);                                     \
    }                                                                                                \
    static void NAME(T *out, const T *a, const T *b, int64_t n) {                                    \
        if (out == a) NAME##_in_place(out, b, n);                                                    \
        else NAME##_apart(out, a, b, n);                                                             \
    }

#define WEFT_KERNELS(T, SUFFIX)                                                                      \
    WEFT_KERNEL(sum_##SUFFIX, T, WEFT_SUM_OP)                                                         \
    WEFT_KERNEL(prod_##SUFFIX, T, WEFT_PROD_OP)                                                       \
    WEFT_KERNEL(max_##SUFFIX, T, WEFT_MAX_OP)                                                         \
    WEFT_KERNEL(min_##SUFFIX, T, WEFT_MIN_OP)

WEFT_KERNELS(float, f32)
WEFT_KERNELS(double, f64)
WEFT_KERNELS(int32_t, i32)
WEFT_KERNELS(int64_t, i64)

typedef void (*kernel_t)(void *, const void *, const void *, int64_t);

static kernel_t kernel_for(weft_dtype_t dtype, weft_op_t op) {
#define PICK(SUFFIX)                                                                                 \
    switch (op) {                                                                                    \
    case WEFT_SUM:                                                                                   \
    case WEFT_AVG: return (kernel_t)sum_##SUFFIX;                                                    \
    case WEFT_PROD: return (kernel_t)prod_##SUFFIX;                                                  \
    case WEFT_MAX: return (kernel_t)max_##SUFFIX;                                                    \
    case WEFT_MIN: return (kernel_t)min_##SUFFIX;                                                    \
    }                                                                                                \
    break;
    switch (dtype) {
    case WEFT_F32: PICK(f32)
    case WEFT_F64: PICK(f64)
    case WEFT_I32: PICK(i32)
    case WEFT_I64: PICK(i64)
    case WEFT_BYTE: break;
    }
#undef PICK
    return 0;
}

void weft_reduce(void *destination, const void *source, int64_t count, weft_dtype_t dtype, weft_op_t op) {
    kernel_t k = kernel_for(dtype, op);
    if (k && count > 0) k(destination, destination, source, count);
}

void weft_reduce_pair(void *destination, const void *first, const void *second, int64_t count, weft_dtype_t dtype,
                      weft_op_t op) {
    kernel_t k = kernel_for(dtype, op);
    if (k && count > 0) k(destination, first, second, count);
}

enum { BLOCK_BYTES = 8192 };

void weft_reduce_many(void *destination, const void *const *sources, int n, int64_t count, weft_dtype_t dtype,
                      weft_op_t op) {
    if (count <= 0 || n <= 0) return;
    size_t size = weft_dtype_size(dtype);
    if (n == 1) {
        if (destination != sources[0]) memmove(destination, sources[0], (size_t)count * size);
        return;
    }
    kernel_t k = kernel_for(dtype, op);
    if (!k) return;
    int64_t block = BLOCK_BYTES / (int64_t)size;
    for (int64_t start = 0; start < count; start += block) {
        int64_t m = count - start < block ? count - start : block;
        size_t offset = (size_t)start * size;
        char *out = (char *)destination + offset;
        k(out, (const char *)sources[0] + offset, (const char *)sources[1] + offset, m);
        for (int s = 2; s < n; s++) k(out, out, (const char *)sources[s] + offset, m);
    }
}

void weft_divide(void *buffer, int64_t count, weft_dtype_t dtype, int divisor) {
    if (divisor == 0) return;
    switch (dtype) {
    case WEFT_F32: {
        float *b = buffer, d = (float)divisor;
        for (int64_t i = 0; i < count; i++) b[i] /= d;
        break;
    }
    case WEFT_F64: {
        double *b = buffer, d = (double)divisor;
        for (int64_t i = 0; i < count; i++) b[i] /= d;
        break;
    }
    case WEFT_I32: {
        int32_t *b = buffer;
        for (int64_t i = 0; i < count; i++) b[i] /= divisor;
        break;
    }
    case WEFT_BYTE: break;
    case WEFT_I64: {
        int64_t *b = buffer;
        for (int64_t i = 0; i < count; i++) b[i] /= divisor;
        break;
    }
    }
}
