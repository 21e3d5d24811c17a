import Foundation
import WeftTopology

/// Picks the algorithm for `auto`: the first row of a selection table that matches the
/// collective, rank count and message size. The default table was measured on our
/// 2-core machines (docs/BENCHMARKS.md); `WEFT_ALGO` overrides it for every collective.
public struct AlgorithmSelector: Sendable {
    public struct Row: Sendable, Equatable {
        public var collective: Collective
        public var ranks: ClosedRange<Int>
        /// Message sizes in bytes, lower bound inclusive, upper bound exclusive.
        public var bytes: Range<Int>
        public var algorithm: Algorithm
        /// Whether the row needs the buffer in registered (shared-window) memory.
        public var needsRegistered: Bool

        public init(_ collective: Collective, ranks: ClosedRange<Int>, bytes: Range<Int>, _ algorithm: Algorithm,
                    needsRegistered: Bool = false) {
            self.collective = collective
            self.ranks = ranks
            self.bytes = bytes
            self.algorithm = algorithm
            self.needsRegistered = needsRegistered
        }
    }

    public var rows: [Row]
    /// The rows were measured with every rank on one node: across nodes they say nothing,
    /// so there the table answers `mpi` (a tuning file or topology plan decides instead).
    public var measuredOnOneNode: Bool

    public init(measuredOnOneNode: Bool = false, rows: [Row]) {
        self.rows = rows
        self.measuredOnOneNode = measuredOnOneNode
    }

    /// The algorithm for a request; `mpi` when no row matches.
    public func choose(_ collective: Collective, ranks: Int, bytes: Int, nodeLocal: Bool, registered: Bool) -> Algorithm {
        if measuredOnOneNode && !nodeLocal { return .mpi }
        for row in rows where row.collective == collective && row.ranks.contains(ranks) && row.bytes.contains(bytes) {
            if row.algorithm == .direct && !nodeLocal { continue }
            if row.needsRegistered && !registered { continue }
            return row.algorithm
        }
        return .mpi
    }

    /// `WEFT_ALGO=name`, as NCCL_ALGO: forces one algorithm wherever `auto` is asked
    /// (`auto` or unset: no override). `Runtime.initialize` refuses a name that is not an
    /// algorithm, so nothing falls back silently.
    public static let environmentOverride: Algorithm? = {
        guard let name = ProcessInfo.processInfo.environment["WEFT_ALGO"], !name.isEmpty, name != "auto" else { return nil }
        return Algorithm(rawValue: name)
    }()

    /// The error line for a `WEFT_ALGO` that names no algorithm, or nil when it is fine.
    public static var environmentError: String? {
        guard let name = ProcessInfo.processInfo.environment["WEFT_ALGO"], !name.isEmpty, name != "auto",
              Algorithm(rawValue: name) == nil
        else { return nil }
        let names = Algorithm.allCases.filter { $0 != .auto }.map(\.rawValue).joined(separator: ", ")
        return "WEFT_ALGO='\(name)' is not an algorithm; choose from \(names), auto"
    }

    /// Measured on one node (2 cores, Open MPI 4.1.4 over shared memory, 2 and 4 ranks;
    /// docs/BENCHMARKS.md). A row is kept only where it beat native MPI by a clear margin
    /// at both rank counts; everywhere else `auto` is Open MPI's own collective. Across
    /// nodes (emulated hosts, docs/BENCHMARKS.md) no Weft algorithm beat native reliably, so
    /// there the table gives way to Open MPI.
    public static let measured = AlgorithmSelector(measuredOnOneNode: true, rows: [
        // Registered buffers: single-copy shared memory wins from a few KiB up.
        Row(.allreduce, ranks: 2...64, bytes: (4 << 10)..<Int.max, .direct, needsRegistered: true),
        Row(.reduceScatter, ranks: 2...64, bytes: (4 << 10)..<Int.max, .direct, needsRegistered: true),
        Row(.allgather, ranks: 2...64, bytes: (8 << 10)..<Int.max, .direct, needsRegistered: true),
        Row(.broadcast, ranks: 2...64, bytes: (4 << 10)..<Int.max, .direct, needsRegistered: true),
        Row(.reduce, ranks: 2...64, bytes: (4 << 10)..<Int.max, .direct, needsRegistered: true),
        Row(.alltoall, ranks: 2...64, bytes: (8 << 10)..<Int.max, .direct, needsRegistered: true),
        // Ordinary buffers: direct stages through a shared window (a copy in and out).
        Row(.allreduce, ranks: 2...2, bytes: (4 << 10)..<(1 << 20), .direct),
        Row(.allreduce, ranks: 3...64, bytes: (4 << 10)..<Int.max, .direct),
        Row(.reduceScatter, ranks: 2...64, bytes: (8 << 10)..<(64 << 10), .direct),
        Row(.reduceScatter, ranks: 2...64, bytes: (128 << 10)..<(4 << 20), .rabenseifner),
        Row(.reduceScatter, ranks: 2...64, bytes: (4 << 20)..<Int.max, .ring),
        Row(.allgather, ranks: 2...64, bytes: (8 << 10)..<(32 << 10), .direct),
        Row(.reduce, ranks: 2...64, bytes: (4 << 10)..<(32 << 10), .direct),
        Row(.reduce, ranks: 2...64, bytes: (8 << 20)..<Int.max, .ring),
    ])

    /// Ordinary buffers of an MPI program reached single-copy by cross-memory attach
    /// (libweft-mpi.so): `direct` reads peers' buffers in place, paying ~2.5 µs of system
    /// calls and barriers per call instead of a staging copy. Measured with
    /// `WEFT_ALGO=direct benchmarks/interpose.sh` beside native Open MPI at 2 and 4 ranks
    /// (docs/BENCHMARKS.md); a row only where direct won at both. Broadcast, alltoall and
    /// 2-rank allgather stay native: direct only tied there.
    public static let crossMemory = AlgorithmSelector(measuredOnOneNode: true, rows: [
        Row(.allreduce, ranks: 2...64, bytes: (8 << 10)..<Int.max, .direct, needsRegistered: true),
        Row(.reduceScatter, ranks: 2...64, bytes: (8 << 10)..<Int.max, .direct, needsRegistered: true),
        Row(.reduce, ranks: 2...64, bytes: (256 << 10)..<Int.max, .direct, needsRegistered: true),
        Row(.allgather, ranks: 3...64, bytes: (16 << 10)..<Int.max, .direct, needsRegistered: true),
    ])
}
