/// Multi-level allreduce over a grid of ranks: every rank has coordinates (c₀, …, c_L−1)
/// with sizes (d₀, …, d_L−1). Reduce-scatter runs level by level — among the ranks that
/// differ only in c_l, on the part of the buffer the earlier levels left them — then the
/// allgather unwinds the levels in reverse. Each level is a ring (neighbour traffic, as on
/// torus dimensions or inside a switch) or a rotated pairwise exchange (all partners in
/// turn, each participant starting at a different offset so that concurrent exchanges
/// spread over different links, as across dragonfly groups).
///
/// Cost: at level l each rank moves 2(d_l − 1)/d_l of its share, the share shrinking by
/// d_l per level, so only the last level's traffic crosses the expensive links.
public enum MultiLevel {
    public enum Mode: Sendable { case ring, pairwise }

    public struct Grid: Sendable {
        /// coordinates[rank] = (c₀, …, c_L−1); every combination occurs exactly once.
        public var coordinates: [[Int]]
        public var sizes: [Int]
        public var modes: [Mode]

        public init(coordinates: [[Int]], sizes: [Int], modes: [Mode]) {
            self.coordinates = coordinates
            self.sizes = sizes
            self.modes = modes
        }
    }

    public static func allreduce(_ grid: Grid, algorithm: Algorithm) -> Schedule {
        let n = grid.coordinates.count, levels = grid.sizes.count
        let chunks = grid.sizes.reduce(1, *)
        var rankAt: [[Int]: Int] = [:]
        for (r, c) in grid.coordinates.enumerated() { rankAt[c] = r }
        var schedule = Schedule(collective: .allreduce, algorithm: algorithm, ranks: n,
                                layout: ChunkLayout(blocks: 1, chunksPerBlock: chunks))
        /// The chunk range of sub-part k at level l for a rank (prefix from levels < l).
        func range(_ c: [Int], level l: Int, part k: Int) -> ChunkRange {
            var prefix = 0, span = chunks
            for m in 0..<l {
                span /= grid.sizes[m]
                prefix = prefix * grid.sizes[m] + c[m]
            }
            span /= grid.sizes[l]
            return ChunkRange((prefix * grid.sizes[l] + k) * span, count: span)
        }
        func peer(_ c: [Int], level l: Int, position p: Int) -> Int {
            var t = c
            t[l] = p
            return rankAt[t]!
        }
        func phase(level l: Int, reduce: Bool) {
            let d = grid.sizes[l]
            guard d > 1 else { return }
            for s in 0..<(d - 1) {
                var step: [ScheduleOperation] = []
                for (r, c) in grid.coordinates.enumerated() {
                    let i = c[l]
                    switch grid.modes[l] {
                    case .ring:
                        let part = reduce ? ((i - s - 1) % d + d) % d : ((i - s) % d + d) % d
                        let x = range(c, level: l, part: part)
                        step.append(.transfer(from: r, to: peer(c, level: l, position: (i + 1) % d), source: x,
                                              destination: x, reduce: reduce))
                    case .pairwise:
                        // Participants with different lower coordinates start at different offsets.
                        var q = 0
                        for m in 0..<levels where m != l { q = q * grid.sizes[m] + c[m] }
                        let target = (i + 1 + (s + q) % (d - 1)) % d
                        let x = range(c, level: l, part: reduce ? target : i)
                        step.append(.transfer(from: r, to: peer(c, level: l, position: target), source: x, destination: x,
                                              reduce: reduce))
                    }
                }
                schedule.steps.append(step)
            }
        }
        for l in 0..<levels { phase(level: l, reduce: true) }
        for l in stride(from: levels - 1, through: 0, by: -1) { phase(level: l, reduce: false) }
        return schedule
    }
}

extension Schedule {
    /// The same schedule with virtual rank v played by rank order[v] (a ring in network
    /// order is the plain ring relabelled). For block-wise collectives block v becomes
    /// block order[v], so every rank still owns its own block.
    public func relabelled(_ order: [Int]) -> Schedule {
        let blockwise = collective.isBlockwise
        let cpb = layout.chunksPerBlock
        func map(_ r: ChunkRange) -> [ChunkRange] {
            guard blockwise else { return [r] }
            // Split at block boundaries, since blocks move independently.
            var out: [ChunkRange] = []
            var c = r.start
            while c < r.start + r.count {
                let block = c / cpb, end = min(r.start + r.count, (block + 1) * cpb)
                out.append(ChunkRange(r.buffer, order[block] * cpb + c % cpb, count: end - c))
                c = end
            }
            return out.isEmpty ? [r] : out
        }
        var copy = self
        copy.steps = steps.map { step in
            step.flatMap { op -> [ScheduleOperation] in
                switch op {
                case .transfer(let from, let to, let source, let destination, let reduce):
                    return zip(map(source), map(destination)).map {
                        .transfer(from: order[from], to: order[to], source: $0, destination: $1, reduce: reduce)
                    }
                case .localCopy(let rank, let source, let destination):
                    return zip(map(source), map(destination)).map { .localCopy(rank: order[rank], source: $0, destination: $1) }
                case .shared(let rank, let from, let source, let to, let destination, let reduce):
                    return zip(map(source), map(destination)).map {
                        .shared(rank: order[rank], from: from.map { order[$0] }, source: $0, to: to.map { order[$0] },
                                destination: $1, reduce: reduce)
                    }
                }
            }
        }
        return copy
    }
}
