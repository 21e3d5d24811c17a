import CWeft

/// Element types the collectives move and reduce.
public enum DataType: String, CaseIterable, Sendable {
    case f32, f64, i32, i64

    public var size: Int { self == .f32 || self == .i32 ? 4 : 8 }
    public var isFloatingPoint: Bool { self == .f32 || self == .f64 }

    var c: weft_dtype_t {
        switch self {
        case .f32: return WEFT_F32
        case .f64: return WEFT_F64
        case .i32: return WEFT_I32
        case .i64: return WEFT_I64
        }
    }
}

/// Reduction operators; `avg` is a sum divided by the rank count (integer division for
/// integer types).
public enum ReduceOp: String, CaseIterable, Sendable {
    case sum, prod, max, min, avg

    var c: weft_op_t {
        switch self {
        case .sum: return WEFT_SUM
        case .prod: return WEFT_PROD
        case .max: return WEFT_MAX
        case .min: return WEFT_MIN
        case .avg: return WEFT_AVG
        }
    }
}

/// A Swift element type with a Weft `DataType`.
public protocol WeftScalar {
    static var weftType: DataType { get }
}

extension Float: WeftScalar { public static var weftType: DataType { .f32 } }
extension Double: WeftScalar { public static var weftType: DataType { .f64 } }
extension Int32: WeftScalar { public static var weftType: DataType { .i32 } }
extension Int64: WeftScalar { public static var weftType: DataType { .i64 } }
extension Int: WeftScalar { public static var weftType: DataType { .i64 } }

/// The shim's vectorised reduction kernels, for callers (and tests) outside a collective.
public enum ReductionKernels {
    /// destination[i] = destination[i] op source[i] (avg accumulates as sum). The two must
    /// not overlap.
    public static func reduce<T: WeftScalar>(_ destination: UnsafeMutableBufferPointer<T>,
                                            _ source: UnsafeBufferPointer<T>, op: ReduceOp) {
        precondition(destination.count == source.count, "reduce needs equal lengths")
        precondition(disjoint(UnsafeRawBufferPointer(destination), UnsafeRawBufferPointer(source)),
                     "reduce needs a source apart from its destination")
        guard let d = destination.baseAddress, let s = source.baseAddress else { return }
        weft_reduce(d, s, Int64(destination.count), T.weftType.c, op.c)
    }

    /// destination[i] = sources[0][i] op … op sources[k−1][i]. The first source may be the
    /// destination itself; no other source may overlap it.
    public static func reduce<T: WeftScalar>(_ destination: UnsafeMutableBufferPointer<T>,
                                            sources: [UnsafeBufferPointer<T>], op: ReduceOp) {
        precondition(sources.allSatisfy { $0.count == destination.count }, "reduce needs equal lengths")
        let whole = UnsafeRawBufferPointer(destination)
        precondition(sources.indices.allSatisfy { i in
            let s = UnsafeRawBufferPointer(sources[i])
            return disjoint(whole, s) || (i == 0 && s.baseAddress == whole.baseAddress)
        }, "reduce needs sources apart from the destination (the first may be the destination)")
        guard let d = destination.baseAddress, !sources.isEmpty else { return }
        var pointers: [UnsafeRawPointer?] = sources.map { UnsafeRawPointer($0.baseAddress) }
        pointers.withUnsafeMutableBufferPointer { p in
            weft_reduce_many(d, p.baseAddress, Int32(sources.count), Int64(destination.count), T.weftType.c, op.c)
        }
    }

    private static func disjoint(_ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer) -> Bool {
        guard let x = a.baseAddress, let y = b.baseAddress, a.count > 0, b.count > 0 else { return true }
        return x + a.count <= y || y + b.count <= x
    }
}
