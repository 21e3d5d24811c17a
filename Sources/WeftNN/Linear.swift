import CBLAS

/// Row-major single-precision GEMM: C = alpha · op(A) · op(B) + beta · C, through OpenBLAS.
/// op(A) is m×k, op(B) is k×n, C is m×n.
@inline(__always)
func gemm(transposeA: Bool = false, transposeB: Bool = false, m: Int, n: Int, k: Int, alpha: Float = 1,
          _ a: UnsafePointer<Float>, lda: Int, _ b: UnsafePointer<Float>, ldb: Int, beta: Float,
          _ c: UnsafeMutablePointer<Float>, ldc: Int) {
    guard m > 0 && n > 0 else { return }
    if k == 0 {
        if beta == 0 { for i in 0..<m { (c + i * ldc).update(repeating: 0, count: n) } }
        return
    }
    cblas_sgemm(CblasRowMajor, transposeA ? CblasTrans : CblasNoTrans, transposeB ? CblasTrans : CblasNoTrans,
                Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
}

/// Sets OpenBLAS's thread count (1 per rank unless asked otherwise).
public func setBLASThreads(_ n: Int) { openblas_set_num_threads(Int32(n)) }

import CMalloc

/// Keeps freed large blocks in the heap instead of returning them to the kernel: layers
/// allocate activations of the same sizes every step, and fresh pages from mmap cost a
/// page fault and a kernel zeroing each time.
public func retainFreedMemory() {
    // 32 MiB is glibc's largest accepted mmap threshold; larger values are ignored.
    mallopt(M_MMAP_THRESHOLD, 32 << 20)
    mallopt(M_TRIM_THRESHOLD, 256 << 20)
}
