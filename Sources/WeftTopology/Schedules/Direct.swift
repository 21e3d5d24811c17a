/// Shared-memory single-copy collectives: ranks of one node load from and store to each
/// other's windows directly. In an allreduce, rank r reduces chunk r of every rank's
/// buffer and writes the sum into every rank's chunk r: each rank reads and writes the
/// message once, with no intermediate copy and one step between two barriers.
public enum Direct: FlatScheduleGenerator {
    public static let algorithm = Algorithm.direct
    public static let collectives: [Collective] = Collective.allCases
    /// Shared memory: the planner weighs it only where all ranks share one node.
    public static let networks: [NetworkKind]? = [.singleNode]

    public static func make(_ collective: Collective, ranks n: Int, root: Int, segments: Int) -> Schedule {
        let one = { (c: Int) in ChunkRange(c, count: 1) }
        var step: [ScheduleOperation] = []
        let layout: ChunkLayout
        switch collective {
        case .allreduce:
            layout = ChunkLayout(blocks: 1, chunksPerBlock: n)
            step = (0..<n).map { .shared(rank: $0, from: nil, source: one($0), to: nil, destination: one($0), reduce: true) }
        case .reduce:
            layout = ChunkLayout(blocks: 1, chunksPerBlock: n)
            step = (0..<n).map { .shared(rank: $0, from: nil, source: one($0), to: root, destination: one($0), reduce: true) }
        case .reduceScatter:
            layout = ChunkLayout(blocks: n, chunksPerBlock: 1)
            step = (0..<n).map { .shared(rank: $0, from: nil, source: one($0), to: $0, destination: one($0), reduce: true) }
        case .allgather:
            layout = ChunkLayout(blocks: n, chunksPerBlock: 1)
            step = (0..<n).map { .shared(rank: $0, from: $0, source: one($0), to: nil, destination: one($0), reduce: false) }
        case .broadcast:
            layout = ChunkLayout(blocks: 1, chunksPerBlock: 1)
            // The root only takes part in the fencing barriers (an empty operation).
            step = (0..<n).map {
                $0 == root
                    ? .shared(rank: $0, from: $0, source: ChunkRange(0, count: 0), to: $0,
                              destination: ChunkRange(0, count: 0), reduce: false)
                    : .shared(rank: $0, from: root, source: one(0), to: $0, destination: one(0), reduce: false)
            }
        case .alltoall:
            layout = ChunkLayout(blocks: n, chunksPerBlock: 1)
            for r in 0..<n {
                for q in 0..<n {
                    step.append(.shared(rank: r, from: q, source: one(r), to: r,
                                        destination: ChunkRange(.output, q, count: 1), reduce: false))
                }
            }
        case .barrier:
            layout = ChunkLayout(blocks: 1, chunksPerBlock: 1)
            step = (0..<n).map {
                .shared(rank: $0, from: $0, source: ChunkRange(0, count: 0), to: $0,
                        destination: ChunkRange(0, count: 0), reduce: false)
            }
        }
        return Schedule(collective: collective, algorithm: algorithm, ranks: n, root: collective.isRooted ? root : 0,
                        layout: layout, steps: step.isEmpty ? [] : [step])
    }
}
