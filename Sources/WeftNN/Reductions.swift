/// Float sums in eight SIMD lanes. A plain `+=` loop is a chain of dependent additions the
/// compiler may not reorder; eight partial sums run at vector width and are also closer to
/// the exact sum than one running total.

@inline(__always)
func sum(_ x: UnsafePointer<Float>, count: Int) -> Float {
    var lanes = SIMD8<Float>(repeating: 0), i = 0
    while i + 8 <= count {
        lanes += UnsafeRawPointer(x + i).loadUnaligned(as: SIMD8<Float>.self)
        i += 8
    }
    var total = lanes.sum()
    while i < count { total += x[i]; i += 1 }
    return total
}

@inline(__always)
func dot(_ x: UnsafePointer<Float>, _ y: UnsafePointer<Float>, count: Int) -> Float {
    var lanes = SIMD8<Float>(repeating: 0), i = 0
    while i + 8 <= count {
        let a = UnsafeRawPointer(x + i).loadUnaligned(as: SIMD8<Float>.self)
        let b = UnsafeRawPointer(y + i).loadUnaligned(as: SIMD8<Float>.self)
        lanes += a * b
        i += 8
    }
    var total = lanes.sum()
    while i < count { total += x[i] * y[i]; i += 1 }
    return total
}

/// Σ (x − mean)² over `count` values, in lanes.
@inline(__always)
func squaredDeviations(_ x: UnsafePointer<Float>, mean: Float, count: Int) -> Float {
    var lanes = SIMD8<Float>(repeating: 0), i = 0
    let m = SIMD8<Float>(repeating: mean)
    while i + 8 <= count {
        let d = UnsafeRawPointer(x + i).loadUnaligned(as: SIMD8<Float>.self) - m
        lanes += d * d
        i += 8
    }
    var total = lanes.sum()
    while i < count { total += (x[i] - mean) * (x[i] - mean); i += 1 }
    return total
}
