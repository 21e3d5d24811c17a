/// Recursive doubling: log₂ n rounds of pairwise exchange with partner v XOR 2^k; each
/// round moves the whole message (allreduce) or doubles what each rank holds (allgather).
/// Latency-optimal for small messages. Rank counts that are not powers of two fold the
/// first 2·extra ranks in pairs before the core and unfold after. The barrier is the
/// dissemination barrier (rank r signals r+2^k), which needs no folding.
public enum RecursiveDoubling: FlatScheduleGenerator {
    public static let algorithm = Algorithm.recursiveDoubling
    public static let collectives: [Collective] = [.allreduce, .allgather, .barrier]

    public static func make(_ collective: Collective, ranks n: Int, root: Int, segments: Int) -> Schedule {
        let fold = PowerOfTwoFold(ranks: n)
        switch collective {
        case .allreduce:
            var s = Schedule(collective: collective, algorithm: algorithm, ranks: n,
                             layout: ChunkLayout(blocks: 1, chunksPerBlock: 1))
            let all = ChunkRange(0, count: 1)
            if fold.extra > 0 {
                s.steps.append((0..<fold.extra).map {
                    .transfer(from: 2 * $0 + 1, to: 2 * $0, source: all, destination: all, reduce: true)
                })
            }
            var mask = 1
            while mask < fold.core {
                s.steps.append((0..<fold.core).map { v in
                    .transfer(from: fold.real(v), to: fold.real(v ^ mask), source: all, destination: all, reduce: true)
                })
                mask <<= 1
            }
            if fold.extra > 0 {
                s.steps.append((0..<fold.extra).map {
                    .transfer(from: 2 * $0, to: 2 * $0 + 1, source: all, destination: all, reduce: false)
                })
            }
            return s
        case .allgather:
            var s = Schedule(collective: collective, algorithm: algorithm, ranks: n,
                             layout: ChunkLayout(blocks: n, chunksPerBlock: 1))
            // held[v]: blocks virtual rank v holds, kept sorted.
            var held = (0..<fold.core).map { v -> [Int] in
                v < fold.extra ? [2 * v, 2 * v + 1] : [fold.real(v)]
            }
            if fold.extra > 0 {
                s.steps.append((0..<fold.extra).map {
                    .transfer(from: 2 * $0 + 1, to: 2 * $0, source: ChunkRange(2 * $0 + 1, count: 1),
                              destination: ChunkRange(2 * $0 + 1, count: 1), reduce: false)
                })
            }
            var mask = 1
            while mask < fold.core {
                var step: [ScheduleOperation] = []
                for v in 0..<fold.core {
                    for range in contiguousRanges(held[v]) {
                        step.append(.transfer(from: fold.real(v), to: fold.real(v ^ mask), source: range,
                                              destination: range, reduce: false))
                    }
                }
                s.steps.append(step)
                held = (0..<fold.core).map { v in (held[v] + held[v ^ mask]).sorted() }
                mask <<= 1
            }
            if fold.extra > 0 {
                var step: [ScheduleOperation] = []
                for i in 0..<fold.extra {
                    let odd = 2 * i + 1
                    for range in contiguousRanges((0..<n).filter { $0 != odd }) {
                        step.append(.transfer(from: 2 * i, to: odd, source: range, destination: range, reduce: false))
                    }
                }
                s.steps.append(step)
            }
            return s
        case .barrier:
            var s = Schedule(collective: collective, algorithm: algorithm, ranks: n,
                             layout: ChunkLayout(blocks: 1, chunksPerBlock: 1))
            var distance = 1
            while distance < n {
                s.steps.append((0..<n).map { r in
                    .transfer(from: r, to: (r + distance) % n, source: ChunkRange(0, count: 0),
                              destination: ChunkRange(0, count: 0), reduce: false)
                })
                distance <<= 1
            }
            return s
        default:
            preconditionFailure("recursive-doubling does not serve \(collective)")
        }
    }

    /// Sorted chunk indices as maximal contiguous ranges.
    static func contiguousRanges(_ sorted: [Int]) -> [ChunkRange] {
        var ranges: [ChunkRange] = []
        for c in sorted {
            if let last = ranges.last, last.start + last.count == c {
                ranges[ranges.count - 1].count += 1
            } else {
                ranges.append(ChunkRange(c, count: 1))
            }
        }
        return ranges
    }
}
