/// Rabenseifner's allreduce: reduce-scatter by recursive halving (each round exchanges
/// half of what remains with partner v XOR d), then allgather by recursive doubling.
/// 2·log₂ n rounds moving 2(n−1)/n of the message: bandwidth-optimal with logarithmic
/// latency. Reduce-scatter is the halving phase followed by one step that hands each
/// block to its rank. Non-powers of two fold the first 2·extra ranks in pairs.
public enum Rabenseifner: FlatScheduleGenerator {
    public static let algorithm = Algorithm.rabenseifner
    public static let collectives: [Collective] = [.allreduce, .reduceScatter]

    public static func make(_ collective: Collective, ranks n: Int, root: Int, segments: Int) -> Schedule {
        let fold = PowerOfTwoFold(ranks: n)
        let p2 = fold.core
        let blockwise = collective == .reduceScatter
        // Chunk space: p2 chunks (allreduce) or one chunk per block (reduce-scatter);
        // virtual ranks [a, b) cover chunks [bound(a), bound(b)).
        let layout = blockwise ? ChunkLayout(blocks: n, chunksPerBlock: 1) : ChunkLayout(blocks: 1, chunksPerBlock: p2)
        let chunks = layout.chunks
        let bound = { (v: Int) in chunks * v / p2 }
        var s = Schedule(collective: collective, algorithm: algorithm, ranks: n, layout: layout)
        let all = ChunkRange(0, count: chunks)
        if fold.extra > 0 {
            s.steps.append((0..<fold.extra).map {
                .transfer(from: 2 * $0 + 1, to: 2 * $0, source: all, destination: all, reduce: true)
            })
        }
        // Halving: v's group of virtual ranks [low, high) shrinks to itself.
        var low = [Int](repeating: 0, count: p2), high = [Int](repeating: p2, count: p2)
        var distance = p2 / 2
        while distance >= 1 {
            var step: [ScheduleOperation] = []
            for v in 0..<p2 {
                let middle = (low[v] + high[v]) / 2
                let give = v & distance == 0 ? (middle, high[v]) : (low[v], middle)
                let range = ChunkRange(bound(give.0), count: bound(give.1) - bound(give.0))
                step.append(.transfer(from: fold.real(v), to: fold.real(v ^ distance), source: range,
                                      destination: range, reduce: true))
            }
            for v in 0..<p2 {
                let middle = (low[v] + high[v]) / 2
                if v & distance == 0 { high[v] = middle } else { low[v] = middle }
            }
            s.steps.append(step)
            distance /= 2
        }
        if blockwise {
            // Virtual rank v holds blocks [bound(v), bound(v+1)) reduced; send each home.
            var step: [ScheduleOperation] = []
            for v in 0..<p2 {
                for block in bound(v)..<bound(v + 1) where block != fold.real(v) {
                    step.append(.transfer(from: fold.real(v), to: block, source: ChunkRange(block, count: 1),
                                          destination: ChunkRange(block, count: 1), reduce: false))
                }
            }
            if !step.isEmpty { s.steps.append(step) }
            return s
        }
        // Doubling: groups grow back; v sends all it holds to its partner.
        distance = 1
        while distance < p2 {
            s.steps.append((0..<p2).map { v in
                let groupLow = v & ~(distance - 1)
                let range = ChunkRange(bound(groupLow), count: bound(groupLow + distance) - bound(groupLow))
                return .transfer(from: fold.real(v), to: fold.real(v ^ distance), source: range, destination: range,
                                 reduce: false)
            })
            distance *= 2
        }
        if fold.extra > 0 {
            s.steps.append((0..<fold.extra).map {
                .transfer(from: 2 * $0, to: 2 * $0 + 1, source: all, destination: all, reduce: false)
            })
        }
        return s
    }
}
