/// Ring algorithms: every rank talks only to its neighbours r±1.
///
/// Allreduce is a reduce-scatter then an allgather around the ring, 2(n−1) steps each
/// moving bytes/n per rank: bandwidth-optimal, latency linear in n. Broadcast and reduce
/// are pipelined chains (segments follow each other one link behind). Alltoall is the
/// pairwise shift: at step s rank r sends to r+s and receives from r−s.
public enum Ring: FlatScheduleGenerator {
    public static let algorithm = Algorithm.ring
    public static let collectives: [Collective] = Collective.allCases
    public static func pipelines(_ collective: Collective) -> Bool { [.broadcast, .reduce].contains(collective) }

    public static func make(_ collective: Collective, ranks n: Int, root: Int, segments: Int) -> Schedule {
        let next = { @Sendable (r: Int) in (r + 1) % n }
        let mod = { @Sendable (x: Int) in ((x % n) + n) % n }
        switch collective {
        case .allreduce, .reduceScatter, .allgather:
            return ordered(collective, order: Array(0..<n), algorithm: algorithm)
        case .broadcast, .reduce:
            // A chain in ring order starting at the root, pipelined over segments.
            var packer = StepPacker()
            let chain = (0..<n).map { (root + $0) % n }
            for segment in segmentRanges(chunks: segments, segments: segments) {
                if collective == .broadcast {
                    for i in 0..<(n - 1) {
                        packer.transfer(from: chain[i], to: chain[i + 1], source: segment, destination: segment,
                                        reduce: false)
                    }
                } else {
                    for i in stride(from: n - 1, to: 0, by: -1) {
                        packer.transfer(from: chain[i], to: chain[i - 1], source: segment, destination: segment,
                                        reduce: true)
                    }
                }
            }
            return Schedule(collective: collective, algorithm: algorithm, ranks: n, root: root,
                            layout: ChunkLayout(blocks: 1, chunksPerBlock: segments), steps: packer.steps)
        case .barrier:
            // Each step every rank tells its successor all it has heard: n−1 steps.
            var s = Schedule(collective: collective, algorithm: algorithm, ranks: n,
                             layout: ChunkLayout(blocks: 1, chunksPerBlock: 1))
            for _ in 0..<max(0, n - 1) {
                s.steps.append((0..<n).map { r in
                    .transfer(from: r, to: next(r), source: ChunkRange(0, count: 0),
                              destination: ChunkRange(0, count: 0), reduce: false)
                })
            }
            return s
        case .alltoall:
            var s = Schedule(collective: collective, algorithm: algorithm, ranks: n,
                             layout: ChunkLayout(blocks: n, chunksPerBlock: 1))
            s.steps.append((0..<n).map { r in
                .localCopy(rank: r, source: ChunkRange(.data, r, count: 1), destination: ChunkRange(.output, r, count: 1))
            })
            for shift in stride(from: 1, to: n, by: 1) {
                s.steps.append((0..<n).map { r in
                    let to = mod(r + shift)
                    return .transfer(from: r, to: to, source: ChunkRange(.data, to, count: 1),
                                     destination: ChunkRange(.output, r, count: 1), reduce: false)
                })
            }
            return s
        }
    }

    /// Allreduce, reduce-scatter or allgather around the ring visiting ranks in `order`
    /// (ring position v is played by rank order[v]; for block-wise collectives block
    /// order[v] travels as the plain ring's block v). Steps are made on demand: a ring on
    /// 16K ranks is too large to hold.
    public static func ordered(_ collective: Collective, order: [Int], algorithm: Algorithm) -> Schedule {
        let n = order.count
        let steps = max(0, n - 1)
        let mod = { @Sendable (x: Int) in ((x % n) + n) % n }
        switch collective {
        case .allreduce:
            return Schedule(collective: collective, algorithm: algorithm, ranks: n,
                            layout: ChunkLayout(blocks: 1, chunksPerBlock: n), stepCount: 2 * steps) { step in
                let reduce = step < steps
                return (0..<n).map { v in
                    let c = ChunkRange(reduce ? mod(v - step) : mod(v + 1 - (step - steps)), count: 1)
                    return .transfer(from: order[v], to: order[v + 1 == n ? 0 : v + 1], source: c, destination: c,
                                     reduce: reduce)
                }
            }
        default:
            let reduce = collective == .reduceScatter
            return Schedule(collective: collective, algorithm: algorithm, ranks: n,
                            layout: ChunkLayout(blocks: n, chunksPerBlock: 1), stepCount: steps) { step in
                (0..<n).map { v in
                    let c = ChunkRange(order[reduce ? mod(v - step - 1) : mod(v - step)], count: 1)
                    return .transfer(from: order[v], to: order[v + 1 == n ? 0 : v + 1], source: c, destination: c,
                                     reduce: reduce)
                }
            }
        }
    }
}
