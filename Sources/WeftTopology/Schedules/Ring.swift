/// Ring algorithms: every rank talks only to its neighbours r±1.
///
/// Allreduce is a reduce-scatter then an allgather around the ring, 2(n−1) steps each
/// moving bytes/n per rank: bandwidth-optimal, latency linear in n. Broadcast and reduce
/// are pipelined chains (segments follow each other one link behind). Alltoall is the
/// pairwise shift: at step s rank r sends to r+s and receives from r−s.
public enum Ring: ScheduleGenerator {
    public static let algorithm = Algorithm.ring
    public static let collectives: [Collective] = Collective.allCases

    public static func make(_ collective: Collective, ranks n: Int, root: Int, segments: Int) -> Schedule {
        let next = { (r: Int) in (r + 1) % n }
        let mod = { (x: Int) in ((x % n) + n) % n }
        switch collective {
        case .allreduce:
            var s = Schedule(collective: collective, algorithm: algorithm, ranks: n,
                             layout: ChunkLayout(blocks: 1, chunksPerBlock: n))
            for step in 0..<max(0, n - 1) {
                s.steps.append((0..<n).map { r in
                    let c = mod(r - step)
                    return .transfer(from: r, to: next(r), source: ChunkRange(c, count: 1),
                                     destination: ChunkRange(c, count: 1), reduce: true)
                })
            }
            for step in 0..<max(0, n - 1) {
                s.steps.append((0..<n).map { r in
                    let c = mod(r + 1 - step)
                    return .transfer(from: r, to: next(r), source: ChunkRange(c, count: 1),
                                     destination: ChunkRange(c, count: 1), reduce: false)
                })
            }
            return s
        case .reduceScatter, .allgather:
            let reduce = collective == .reduceScatter
            var s = Schedule(collective: collective, algorithm: algorithm, ranks: n,
                             layout: ChunkLayout(blocks: n, chunksPerBlock: 1))
            for step in 0..<max(0, n - 1) {
                s.steps.append((0..<n).map { r in
                    let c = reduce ? mod(r - step - 1) : mod(r - step)
                    return .transfer(from: r, to: next(r), source: ChunkRange(c, count: 1),
                                     destination: ChunkRange(c, count: 1), reduce: reduce)
                })
            }
            return s
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
}
