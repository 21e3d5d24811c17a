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
            // Before the round at distance d, virtual rank v holds the blocks of its group
            // (the d virtual ranks from v rounded down to a multiple of d): one contiguous
            // run, since virtual rank v < extra holds blocks 2v and 2v + 1 and any other v
            // block v + extra. Computed, not collected: merged lists of blocks cost n² time.
            let firstBlock = { (v: Int) in v < fold.extra ? 2 * v : v + fold.extra }
            if fold.extra > 0 {
                s.steps.append((0..<fold.extra).map {
                    .transfer(from: 2 * $0 + 1, to: 2 * $0, source: ChunkRange(2 * $0 + 1, count: 1),
                              destination: ChunkRange(2 * $0 + 1, count: 1), reduce: false)
                })
            }
            var mask = 1
            while mask < fold.core {
                s.steps.append((0..<fold.core).map { v in
                    let group = v & ~(mask - 1)
                    let held = ChunkRange(firstBlock(group), count: firstBlock(group + mask) - firstBlock(group))
                    return .transfer(from: fold.real(v), to: fold.real(v ^ mask), source: held, destination: held,
                                     reduce: false)
                })
                mask <<= 1
            }
            if fold.extra > 0 {
                // Each folded-away odd rank gets every block but its own: the runs before and after it.
                var step: [ScheduleOperation] = []
                for i in 0..<fold.extra {
                    let odd = 2 * i + 1
                    let before = ChunkRange(0, count: odd), after = ChunkRange(odd + 1, count: n - odd - 1)
                    for range in [before, after] where range.count > 0 {
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
}
